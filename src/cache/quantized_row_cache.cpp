#include "cache/quantized_row_cache.h"

#include <fmt/format.h>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace lrkv {

QuantizedRowCache::QuantizedRowCache(int n_seq, int capacity, std::vector<RowCodec> k,
                                     std::vector<RowCodec> v, std::string kind,
                                     const KvPaging& paging)
    : KvCache(n_seq),
      capacity_(capacity),
      k_codecs_(std::move(k)),
      v_codecs_(std::move(v)),
      kind_(std::move(kind)) {
  init_paging(paging);
  rows_ = storage_rows(capacity);
  for (size_t l = 0; l < k_codecs_.size(); ++l) {
    layer_offset_.push_back(total_bytes_);
    total_bytes_ += rows_ * (k_codecs_[l].row_bytes + v_codecs_[l].row_bytes);
  }
}

Result<std::unique_ptr<QuantizedRowCache>> QuantizedRowCache::create(int n_seq, int capacity,
                                                                     std::vector<RowCodec> k,
                                                                     std::vector<RowCodec> v,
                                                                     std::string kind,
                                                                     KvPaging paging) {
  if (k.empty() || k.size() != v.size() || n_seq <= 0 || capacity <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "KV cache sizes must be positive ({} layers, {} seqs, capacity {})", k.size(),
                      n_seq, capacity);
  }
  LRKV_RETURN_IF_ERROR(validate_paging(paging));
  std::unique_ptr<QuantizedRowCache> c(new QuantizedRowCache(
      n_seq, capacity, std::move(k), std::move(v), std::move(kind), paging));
  c->storage_.reset(static_cast<uint8_t*>(alloc_aligned(static_cast<size_t>(c->total_bytes_))));
  if (!c->storage_) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot allocate a {:.1f} MiB KV cache ({} seqs x {} tokens); "
                      "lower --ctx or the batch",
                      c->total_bytes_ / 1048576.0, n_seq, capacity);
  }
  return c;
}

int64_t QuantizedRowCache::bytes_per_token(int layer) const {
  return k_codecs_[layer].row_bytes + v_codecs_[layer].row_bytes;
}

uint8_t* QuantizedRowCache::slot(int layer, int seq, int kv) const {
  LRKV_CHECK(layer >= 0 && layer < n_layer() && seq >= 0 && seq < n_seq(), "layer {} seq {}", layer,
             seq);
  const int64_t row = kv ? v_codecs_[layer].row_bytes : k_codecs_[layer].row_bytes;
  const int64_t k_side = rows_ * k_codecs_[layer].row_bytes;
  return storage_.get() + layer_offset_[layer] + (kv ? k_side : 0) + first_row(seq, capacity_) * row;
}

void QuantizedRowCache::write(int layer, int seq, int pos, int n, const float* k, int64_t ldk,
                              const float* v, int64_t ldv) {
  LRKV_CHECK(pos >= 0 && pos + n <= capacity_, "write rows [{}, {}) beyond capacity {}", pos,
             pos + n, capacity_);
  const RowCodec& kc = k_codecs_[layer];
  const RowCodec& vc = v_codecs_[layer];
  check_reserved(seq, pos + n);
  uint8_t* kd = slot(layer, seq, 0);
  uint8_t* vd = slot(layer, seq, 1);
  const RowMap map = row_map(seq);
  global_pool().parallel_for(n, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = map(pos + i);
      encode_row(kc, k + i * ldk, kd + r * kc.row_bytes);
      encode_row(vc, v + i * ldv, vd + r * vc.row_bytes);
    }
  });
}

Result<std::unique_ptr<QuantizedRowCache>> make_ggml_dense_cache(int n_layer, int n_seq,
                                                                 int capacity, int n_kv_head,
                                                                 int head_dim,
                                                                 const QuantFormat& format,
                                                                 KvPaging paging) {
  LRKV_ASSIGN_OR_RETURN(RowCodec codec,
                        RowCodec::create(format, std::vector<int>(n_kv_head, head_dim)));
  return QuantizedRowCache::create(n_seq, capacity, std::vector<RowCodec>(n_layer, codec),
                                   std::vector<RowCodec>(n_layer, codec),
                                   fmt::format("dense {}", format.name()), paging);
}

}  // namespace lrkv
