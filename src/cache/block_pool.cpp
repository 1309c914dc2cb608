#include "cache/block_pool.h"

#include "core/status.h"

namespace lrkv {

BlockPool::BlockPool(int n_seq, int n_blocks, int block_rows)
    : tables_(n_seq), refs_(n_blocks, 0), lru_it_(n_blocks) {
  LRKV_CHECK(n_seq >= 1 && n_blocks >= 1, "block pool of {} sequences, {} blocks", n_seq, n_blocks);
  LRKV_CHECK(block_rows >= 1 && (block_rows & (block_rows - 1)) == 0,
             "block rows {} is not a power of two", block_rows);
  shift_ = 0;
  while ((1 << shift_) < block_rows) ++shift_;
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // lowest id first
}

std::size_t BlockPool::KeyHash::operator()(const Key& k) const {
  uint64_t h = 1469598103934665603ull ^ static_cast<uint32_t>(k.parent);
  for (int t : k.tokens) h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ull;
  return static_cast<size_t>(h);
}

int BlockPool::blocks_needed(int seq, int n) const {
  const int64_t want = blocks_for(n);
  const int64_t have = static_cast<int64_t>(tables_.at(seq).size());
  return want > have ? static_cast<int>(want - have) : 0;
}

bool BlockPool::reserve(int seq, int n) {
  const int need = blocks_needed(seq, n);
  if (need > free_blocks()) return false;
  for (int i = 0; i < need; ++i) {
    const int32_t b = take();
    refs_[b] = 1;
    tables_[seq].push_back(b);
  }
  return true;
}

void BlockPool::release(int seq, int n) {
  std::vector<int32_t>& t = tables_.at(seq);
  const size_t keep = static_cast<size_t>(blocks_for(n));
  if ((n & (block_rows() - 1)) != 0 && keep <= t.size()) {
    // The kept part of this block will be written again: it must be this sequence's alone.
    const int32_t b = t[keep - 1];
    LRKV_CHECK(refs_[b] == 1 && !key_of_.count(b),
               "truncating sequence {} to {} rows would rewrite shared/cached block {}", seq, n, b);
  }
  while (t.size() > keep) {
    unref(t.back());
    t.pop_back();
  }
}

int32_t BlockPool::take() {
  if (!free_.empty()) {
    const int32_t b = free_.back();
    free_.pop_back();
    return b;
  }
  LRKV_CHECK(!lru_.empty(), "block pool exhausted");
  const int32_t b = lru_.front();
  lru_.pop_front();
  unregister(b);  // its descendants (all unreferenced) go back to the free list
  return b;
}

void BlockPool::unref(int32_t b) {
  LRKV_CHECK(refs_[b] > 0, "block {} released twice", b);
  if (--refs_[b] > 0) return;
  if (evictable(b)) {
    lru_it_[b] = lru_.insert(lru_.end(), b);
  } else {
    free_.push_back(b);
  }
}

void BlockPool::unregister(int32_t b) {
  auto ch = children_.find(b);
  if (ch != children_.end()) {
    const std::vector<int32_t> kids = std::move(ch->second);
    children_.erase(ch);
    for (int32_t c : kids) {
      LRKV_CHECK(evictable(c), "block {} is in use while its parent {} is evicted", c, b);
      lru_.erase(lru_it_[c]);
      unregister(c);
      free_.push_back(c);
    }
  }
  auto k = key_of_.find(b);
  if (k == key_of_.end()) return;
  if (k->second.parent >= 0) {
    auto pc = children_.find(k->second.parent);
    if (pc != children_.end()) std::erase(pc->second, b);
  }
  index_.erase(k->second);
  key_of_.erase(k);
}

int BlockPool::share_prefix(int seq, const int* tokens, int n) {
  std::vector<int32_t>& t = tables_.at(seq);
  LRKV_CHECK(t.empty(), "share_prefix: sequence {} already holds {} blocks", seq, t.size());
  const int B = block_rows();
  Key key{-1, {}};
  int i = 0;
  for (; int64_t{i + 1} * B <= n - 1; ++i) {
    key.tokens.assign(tokens + int64_t{i} * B, tokens + int64_t{i + 1} * B);
    auto it = index_.find(key);
    if (it == index_.end()) break;
    const int32_t b = it->second;
    if (evictable(b)) lru_.erase(lru_it_[b]);
    ++refs_[b];
    t.push_back(b);
    key.parent = b;
  }
  shared_tokens_total_ += int64_t{i} * B;
  return i * B;
}

void BlockPool::register_prefix(int seq, const int* tokens, int n) {
  const std::vector<int32_t>& t = tables_.at(seq);
  const int B = block_rows();
  const size_t full = std::min(t.size(), static_cast<size_t>(n / B));
  int32_t parent = -1;
  for (size_t i = 0; i < full; ++i) {
    const int32_t b = t[i];
    if (!key_of_.count(b)) {
      Key key{parent, std::vector<int>(tokens + i * B, tokens + (i + 1) * B)};
      if (index_.count(key)) return;  // the same content is cached in another block
      index_.emplace(key, b);
      if (parent >= 0) children_[parent].push_back(b);
      key_of_.emplace(b, std::move(key));
    }
    parent = b;
  }
}

}  // namespace lrkv
