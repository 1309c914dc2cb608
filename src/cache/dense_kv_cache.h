// DenseKvCache: full keys (post-RoPE) and values per layer, per sequence, in f32/f16/bf16.
// Storage per (layer, seq): K and V buffers of [capacity, kv_dim], allocated up front.
#pragma once

#include <cstdlib>
#include <memory>
#include <vector>

#include "cache/kv_cache.h"
#include "core/dtype.h"

namespace lrkv {

class DenseKvCache final : public KvCache {
 public:
  // kv_dim = n_kv_head * head_dim. dtype f32, f16 or bf16.
  static Result<std::unique_ptr<DenseKvCache>> create(int n_layer, int n_seq, int capacity,
                                                      int kv_dim, DType dtype);
  std::string kind() const override;
  int n_layer() const override { return n_layer_; }
  int n_seq() const override { return static_cast<int>(lengths_.size()); }
  int capacity() const override { return capacity_; }
  int64_t bytes_per_token(int layer) const override;
  int64_t allocated_bytes() const override;

  // Writes n rows of k and v ([n, kv_dim] f32, row stride ld) at positions [pos, pos + n).
  void write(int layer, int seq, int pos, int n, const float* k, const float* v, int64_t ld);
  DType dtype() const { return dtype_; }
  int kv_dim() const { return kv_dim_; }
  const void* keys(int layer, int seq) const { return slot(layer, seq, 0); }
  const void* values(int layer, int seq) const { return slot(layer, seq, 1); }

 private:
  DenseKvCache(int n_layer, int n_seq, int capacity, int kv_dim, DType dtype);
  void* slot(int layer, int seq, int kv) const;
  int n_layer_, capacity_, kv_dim_;
  DType dtype_;
  int64_t slot_bytes_;
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> storage_;
};

}  // namespace lrkv
