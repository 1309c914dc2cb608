// KvCache: per-sequence storage of what attention needs from past tokens, for every layer.
// Implementations: DenseKvCache (full post-RoPE keys and values) and, later, latent caches
// (low-rank projections, possibly quantized). The engine writes a layer's new rows with the
// implementation's own append and reads them through the matching attention variant.
//
// Lengths: length(seq) counts tokens committed by completed forward passes. During a forward
// pass each layer appends rows at [length, length + n) and the engine commits with advance().
// Not thread-safe; one forward pass at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

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
  // Forgets everything after the first n tokens of `seq` (n = 0 clears it).
  void truncate(int seq, int n);
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
  std::vector<int> lengths_;
};

}  // namespace lrkv
