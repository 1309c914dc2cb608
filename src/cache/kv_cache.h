// KvCache: per-sequence storage of what attention needs from past tokens, for every layer.
// Implementations: DenseKvCache (full post-RoPE keys and values) and, later, latent caches
// (low-rank projections, possibly quantized). The engine writes a layer's new rows with the
// implementation's own append and reads them through the matching attention variant.
//
// Lengths: length(seq) counts tokens committed by completed forward passes. During a forward
// pass each layer appends rows at [length, length + n) and the engine commits with advance().
// Paged caches (KvCacheSpec::paging, host row caches): rows live in blocks of a BlockPool shared
// by all sequences; a sequence holds blocks only for the positions it has reserved. Other caches
// reserve `capacity` rows per sequence up front.
// Not thread-safe; one forward pass at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/block_pool.h"
#include "cache/kv_cache_spec.h"
#include "core/status.h"
#include "kernels/row_map.h"

namespace lrkv {

class RowKvCache;
class QuantizedRowCache;
class KiviKvCache;

class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual std::string kind() const = 0;  // "dense f32", "latent f16 ..." (for reports)
  virtual int n_layer() const = 0;
  virtual int n_seq() const = 0;
  virtual int capacity() const = 0;  // max tokens per sequence
  int length(int seq) const { return lengths_.at(seq); }
  // Commits n more tokens for `seq` (called by the engine after all layers appended them).
  void advance(int seq, int n);
  // Forgets everything after the first n tokens of `seq` (n = 0 clears it); a paged cache
  // releases the blocks past them.
  void truncate(int seq, int n);
  // Makes room for positions [0, n) of `seq` (n <= capacity()): a paged cache maps blocks (an
  // error naming the free and needed blocks when too few are left; nothing changes then).
  Status reserve(int seq, int n);
  // Where row j of `seq` lives in the storage (kernels/row_map.h): identity unless paged.
  RowMap row_map(int seq) const;
  // The block pool of a paged cache, else null.
  BlockPool* pages() { return pages_.get(); }
  const BlockPool* pages() const { return pages_.get(); }
  // Paged caches, `seq` empty: maps the cached blocks of the longest registered prefix of
  // tokens[0, n) (BlockPool::share_prefix) and makes them the sequence's first tokens. Returns
  // how many; 0 for other caches.
  int adopt_prefix(int seq, const int* tokens, int n);
  // Exact storage per cached token in `layer`, bytes, metadata (scales, zeros) included.
  virtual int64_t bytes_per_token(int layer) const = 0;
  int64_t bytes_per_token() const;  // all layers
  // Bytes currently reserved by the cache (capacity for all sequences).
  virtual int64_t allocated_bytes() const = 0;

  // The storage behind the interface, asked instead of cast: each host cache answers for its own
  // kind (nullptr otherwise); a device cache names the engine that made it and reads it.
  virtual RowKvCache* as_rows() { return nullptr; }
  virtual QuantizedRowCache* as_quantized_rows() { return nullptr; }
  virtual KiviKvCache* as_kivi() { return nullptr; }
  const RowKvCache* as_rows() const { return const_cast<KvCache*>(this)->as_rows(); }
  const QuantizedRowCache* as_quantized_rows() const { return const_cast<KvCache*>(this)->as_quantized_rows(); }
  const KiviKvCache* as_kivi() const { return const_cast<KvCache*>(this)->as_kivi(); }
  virtual const void* device_owner() const { return nullptr; }

 protected:
  explicit KvCache(int n_seq) : lengths_(n_seq, 0) {}
  // Storage of the row caches, per layer and side: `storage_rows` rows; sequence seq's row j is
  // storage row first_row(seq) + row_map(seq)(j). Not paged: capacity rows per sequence.
  void init_paging(const KvPaging& paging);
  int64_t storage_rows(int capacity) const;
  int64_t first_row(int seq, int capacity) const { return pages_ ? 0 : int64_t{seq} * capacity; }
  // Paged: aborts unless positions [0, n) of seq have blocks (the engine reserves before writing).
  void check_reserved(int seq, int n) const;
  std::vector<int> lengths_;
  std::unique_ptr<BlockPool> pages_;  // paged caches only
};

}  // namespace lrkv
