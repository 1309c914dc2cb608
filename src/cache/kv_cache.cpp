#include "cache/kv_cache.h"

namespace lrkv {

void KvCache::advance(int seq, int n) {
  LRKV_CHECK(lengths_.at(seq) + n <= capacity(), "cache overflow: seq {} length {} + {} > {}", seq,
             lengths_[seq], n, capacity());
  lengths_[seq] += n;
}

void KvCache::truncate(int seq, int n) {
  LRKV_CHECK(n >= 0 && n <= lengths_.at(seq), "truncate seq {} to {} (length {})", seq, n, lengths_[seq]);
  lengths_[seq] = n;
  if (pages_) pages_->release(seq, n);
}

Status KvCache::reserve(int seq, int n) {
  if (seq < 0 || seq >= n_seq()) {
    return make_error(ErrorCode::kInvalidArgument, "KV cache: sequence {} of {}", seq, n_seq());
  }
  if (n > capacity()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "KV cache: sequence {} needs {} tokens, more than its capacity {}", seq, n,
                      capacity());
  }
  if (!pages_ || pages_->reserve(seq, n)) return Status::Ok();
  return make_error(ErrorCode::kInvalidArgument,
                    "paged KV cache full: sequence {} needs {} more blocks of {} tokens for {} "
                    "tokens, {} of {} blocks are free",
                    seq, pages_->blocks_needed(seq, n), pages_->block_rows(), n,
                    pages_->free_blocks(), pages_->n_blocks());
}

void KvCache::init_paging(const KvPaging& paging) {
  if (paging.paged()) pages_ = std::make_unique<BlockPool>(n_seq(), paging.n_blocks, paging.block_rows);
}

int64_t KvCache::storage_rows(int capacity) const {
  if (pages_) return int64_t{pages_->n_blocks()} << pages_->shift();
  return int64_t{n_seq()} * capacity;
}

void KvCache::check_reserved(int seq, int n) const {
  if (!pages_) return;
  LRKV_CHECK(pages_->blocks_needed(seq, n) == 0, "write of {} rows of sequence {} beyond its blocks", n,
             seq);
}

RowMap KvCache::row_map(int seq) const {
  if (!pages_) return {};
  return {pages_->table(seq).data(), pages_->shift()};
}

int KvCache::adopt_prefix(int seq, const int* tokens, int n) {
  if (!pages_) return 0;
  LRKV_CHECK(lengths_.at(seq) == 0, "adopt_prefix: sequence {} holds {} tokens", seq, lengths_[seq]);
  const int shared = pages_->share_prefix(seq, tokens, n);
  lengths_[seq] = shared;
  return shared;
}

int64_t KvCache::bytes_per_token() const {
  int64_t total = 0;
  for (int l = 0; l < n_layer(); ++l) total += bytes_per_token(l);
  return total;
}

}  // namespace lrkv
