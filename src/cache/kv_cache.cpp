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
}

int64_t KvCache::bytes_per_token() const {
  int64_t total = 0;
  for (int l = 0; l < n_layer(); ++l) total += bytes_per_token(l);
  return total;
}

}  // namespace lrkv
