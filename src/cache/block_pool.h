// BlockPool: the blocks of a paged KV cache and each sequence's block table (vLLM's PagedAttention
// layout, on rows of any width: dense, latent or quantized latent).
//   Storage rows are grouped in blocks of B = 2^shift rows. Position j of sequence s lives in
//   block table(s)[j / B], row j % B (kernels/row_map.h reads it that way).
//   Blocks come from a free list and are reference-counted, so sequences can share the blocks of
//   an identical prompt prefix. Only full blocks are shared, and a sequence writes only at
//   positions >= its length, which sharing never covers: a shared block is never written.
// Prefix index: after a sequence has filled block i with tokens t[iB, (i+1)B), the block is
// registered under (its parent block, those B tokens); a later prompt t'[0, n) that walks the same
// chain maps the same blocks (the walk compares tokens, so a hash collision cannot alias). A
// registered block nobody uses stays cached (least recently released first out) until the free
// list runs dry; evicting it also drops its descendants from the index (their content depends on it).
// Not thread-safe (the cache's one-forward-at-a-time rule).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace lrkv {

class BlockPool {
 public:
  // block_rows: a power of two; n_blocks >= 1; n_seq sequence tables.
  BlockPool(int n_seq, int n_blocks, int block_rows);

  int block_rows() const { return 1 << shift_; }
  int shift() const { return shift_; }
  int n_blocks() const { return static_cast<int>(refs_.size()); }
  // Blocks a reservation can still take: never used, or cached but unused (evictable).
  int free_blocks() const { return static_cast<int>(free_.size() + lru_.size()); }
  int used_blocks() const { return n_blocks() - free_blocks(); }
  const std::vector<int32_t>& table(int seq) const { return tables_.at(seq); }
  // Blocks `seq` still needs to hold positions [0, n).
  int blocks_needed(int seq, int n) const;
  // Maps blocks for positions [0, n) of `seq`; false, and nothing changed, when too few are free.
  bool reserve(int seq, int n);
  // Keeps the blocks of the first n positions of `seq` (ceil(n / B)) and releases the rest. A
  // cut inside a block that is shared or registered aborts (its rows would be rewritten under
  // the sequences that read them); the server only ever releases whole sequences.
  void release(int seq, int n);

  // `seq` must hold no block. Maps the longest registered chain of full blocks that prefixes
  // tokens[0, n), leaving at least one token unmapped (its logits must be computed); returns the
  // positions mapped (a multiple of B).
  int share_prefix(int seq, const int* tokens, int n);
  // Registers the full blocks of `seq` that hold tokens[0, n) (its first n positions).
  void register_prefix(int seq, const int* tokens, int n);
  int64_t shared_tokens_total() const { return shared_tokens_total_; }  // positions mapped by share_prefix
  int cached_blocks() const { return static_cast<int>(key_of_.size()); }  // registered blocks

 private:
  struct Key {
    int32_t parent;  // -1 for a sequence's first block
    std::vector<int> tokens;
    bool operator==(const Key& o) const { return parent == o.parent && tokens == o.tokens; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  int64_t blocks_for(int n) const { return (int64_t{n} + block_rows() - 1) >> shift_; }
  // Registered and unused: such a block sits in lru_ (at lru_it_[b]), and only such a block.
  bool evictable(int32_t b) const { return refs_[b] == 0 && key_of_.count(b) != 0; }
  int32_t take();                 // a block from the free list, else the oldest evictable one
  void unref(int32_t b);          // drops one reference; at zero: evictable if registered, else free
  void unregister(int32_t b);     // drops b and its descendants from the index

  int shift_;
  std::vector<std::vector<int32_t>> tables_;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;
  std::list<int32_t> lru_;                           // registered, unreferenced; front = oldest
  std::vector<std::list<int32_t>::iterator> lru_it_;  // valid while evictable(b)
  std::unordered_map<Key, int32_t, KeyHash> index_;
  std::unordered_map<int32_t, Key> key_of_;               // registered block -> its key
  std::unordered_map<int32_t, std::vector<int32_t>> children_;
  int64_t shared_tokens_total_ = 0;
};

}  // namespace lrkv
