// QuantizedRowCache: per layer, per sequence, one encoded K row and one encoded V row per cached
// token (kernels/quant_row.h), allocated up front as [capacity, row_bytes]. It stores
//  - the dense baselines q8_0 / q4_0: rows of kv_dim values, one segment per KV head, llama.cpp
//    blocks of 32 (kv_dim/32 * 34 or 18 bytes per row);
//  - quantized latents of a compressed model: one segment per rank group (the group's slice of
//    the latent row), affine or symmetric b-bit codes with fp16 scales (and minimums).
// Rows are encoded once, when written; attention decodes head slices inside its loop
// (kernels/quant_attention.h). bytes_per_token(layer) = K row bytes + V row bytes, exactly what
// is stored: codes, scales and minimums, nothing else.
// Not thread-safe; one forward pass at a time (encoding itself runs on the thread pool).
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "kernels/quant_row.h"

namespace lrkv {

class QuantizedRowCache : public KvCache {
 public:
  // One codec per layer for keys and for values.
  static Result<std::unique_ptr<QuantizedRowCache>> create(int n_seq, int capacity,
                                                           std::vector<RowCodec> k_codecs,
                                                           std::vector<RowCodec> v_codecs,
                                                           std::string kind,
                                                           KvPaging paging = {});
  std::string kind() const override { return kind_; }
  QuantizedRowCache* as_quantized_rows() override { return this; }
  using KvCache::as_quantized_rows;
  int n_layer() const override { return static_cast<int>(k_codecs_.size()); }
  int n_seq() const override { return static_cast<int>(lengths_.size()); }
  int capacity() const override { return capacity_; }
  int64_t bytes_per_token(int layer) const override;
  using KvCache::bytes_per_token;
  int64_t allocated_bytes() const override { return total_bytes_; }

  // Encodes n rows of k ([n, k_width] f32, stride ldk) and v into positions [pos, pos + n).
  void write(int layer, int seq, int pos, int n, const float* k, int64_t ldk, const float* v,
             int64_t ldv);
  const RowCodec& k_codec(int layer) const { return k_codecs_[layer]; }
  const RowCodec& v_codec(int layer) const { return v_codecs_[layer]; }
  int k_width(int layer) const { return k_codecs_[layer].width; }
  int v_width(int layer) const { return v_codecs_[layer].width; }
  // Row j of `seq` starts at keys(layer, seq) + row_map(seq)(j) * row_bytes (values alike).
  const uint8_t* keys(int layer, int seq) const { return slot(layer, seq, 0); }
  const uint8_t* values(int layer, int seq) const { return slot(layer, seq, 1); }

 private:
  QuantizedRowCache(int n_seq, int capacity, std::vector<RowCodec> k, std::vector<RowCodec> v,
                    std::string kind, const KvPaging& paging);
  uint8_t* slot(int layer, int seq, int kv) const;
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  int capacity_;
  std::vector<RowCodec> k_codecs_, v_codecs_;
  std::string kind_;
  std::vector<int64_t> layer_offset_;  // byte offset of layer l's storage (K rows, then V rows)
  int64_t rows_ = 0;                   // storage rows per layer and side (row_kv_cache.h)
  int64_t total_bytes_ = 0;
  std::unique_ptr<uint8_t, Free> storage_;
};

// Dense keys/values as q8_0 or q4_0 (format from q8_0_format()/q4_0_format()); head_dim % 32 == 0.
Result<std::unique_ptr<QuantizedRowCache>> make_ggml_dense_cache(int n_layer, int n_seq,
                                                                 int capacity, int n_kv_head,
                                                                 int head_dim,
                                                                 const QuantFormat& format,
                                                                 KvPaging paging = {});

}  // namespace lrkv
