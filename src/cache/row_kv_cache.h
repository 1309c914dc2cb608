// RowKvCache: per layer, per sequence, a K row and a V row per cached token, of widths fixed per
// layer, stored as f32, f16 or bf16. It is the storage of both cache kinds the engine runs:
//  - DenseKvCache:  widths = n_kv_head * head_dim, rows are post-RoPE keys and values;
//  - LatentKvCache: widths = Σ_g rank_k / Σ_g rank_v of the layer's rank plan, rows are the
//                   groups' latents concatenated in group order.
// Storage per layer: [rows, k_width] keys then [rows, v_width] values, allocated up front; rows =
// n_seq x capacity (sequence s owns rows [s*capacity, +capacity)), or the blocks of a paged cache
// (KvPaging: n_blocks x block_rows rows, mapped through block tables).
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "core/dtype.h"

namespace lrkv {

class RowKvCache : public KvCache {
 public:
  // dtype f32, f16 or bf16; widths[layer] > 0.
  static Result<std::unique_ptr<RowKvCache>> create(int n_seq, int capacity, std::vector<int> k_widths,
                                                    std::vector<int> v_widths, DType dtype,
                                                    std::string kind, KvPaging paging = {});
  std::string kind() const override { return kind_; }
  RowKvCache* as_rows() override { return this; }
  using KvCache::as_rows;
  int n_layer() const override { return static_cast<int>(k_widths_.size()); }
  int n_seq() const override { return static_cast<int>(lengths_.size()); }
  int capacity() const override { return capacity_; }
  int64_t bytes_per_token(int layer) const override;
  using KvCache::bytes_per_token;
  int64_t allocated_bytes() const override { return total_bytes_; }

  // Writes n rows of k ([n, k_width] f32, stride ldk) and v at positions [pos, pos + n).
  void write(int layer, int seq, int pos, int n, const float* k, int64_t ldk, const float* v, int64_t ldv);
  DType dtype() const { return dtype_; }
  int k_width(int layer) const { return k_widths_[layer]; }
  int v_width(int layer) const { return v_widths_[layer]; }
  // Row j of `seq` starts at keys(layer, seq) + row_map(seq)(j) * row bytes (values alike).
  const void* keys(int layer, int seq) const { return slot(layer, seq, 0); }
  const void* values(int layer, int seq) const { return slot(layer, seq, 1); }

 protected:
  RowKvCache(int n_seq, int capacity, std::vector<int> k_widths, std::vector<int> v_widths, DType dtype,
             std::string kind, const KvPaging& paging);

 private:
  uint8_t* slot(int layer, int seq, int kv) const;
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  int capacity_;
  std::vector<int> k_widths_, v_widths_;
  DType dtype_;
  std::string kind_;
  std::vector<int64_t> layer_offset_;  // byte offset of layer l's storage (K rows, then V rows)
  int64_t rows_ = 0;                   // storage rows per layer and side
  int64_t total_bytes_ = 0;
  std::unique_ptr<uint8_t, Free> storage_;
};

// A dense cache: full keys (post-RoPE) and values, kv_dim = n_kv_head * head_dim per layer.
Result<std::unique_ptr<RowKvCache>> make_dense_kv_cache(int n_layer, int n_seq, int capacity, int kv_dim,
                                                        DType dtype, KvPaging paging = {});

}  // namespace lrkv
