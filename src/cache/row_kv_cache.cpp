#include "cache/row_kv_cache.h"

#include <fmt/format.h>

#include "core/tensor.h"
#include "kernels/elem.h"

namespace lrkv {

RowKvCache::RowKvCache(int n_seq, int capacity, std::vector<int> kw, std::vector<int> vw, DType dtype,
                       std::string kind, const KvPaging& paging)
    : KvCache(n_seq), capacity_(capacity), k_widths_(std::move(kw)), v_widths_(std::move(vw)),
      dtype_(dtype), kind_(std::move(kind)) {
  init_paging(paging);
  rows_ = storage_rows(capacity);
  for (size_t l = 0; l < k_widths_.size(); ++l) {
    layer_offset_.push_back(total_bytes_);
    total_bytes_ += rows_ * dtype_bytes(dtype, k_widths_[l] + v_widths_[l]);
  }
}

Result<std::unique_ptr<RowKvCache>> RowKvCache::create(int n_seq, int capacity, std::vector<int> kw,
                                                       std::vector<int> vw, DType dtype, std::string kind,
                                                       KvPaging paging) {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) {
    return make_error(ErrorCode::kInvalidArgument, "KV cache type must be f32, f16 or bf16, got {}",
                      dtype_name(dtype));
  }
  if (kw.empty() || kw.size() != vw.size() || n_seq <= 0 || capacity <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "KV cache sizes must be positive ({} layers, {} seqs, "
                      "capacity {})", kw.size(), n_seq, capacity);
  }
  for (size_t l = 0; l < kw.size(); ++l) {
    if (kw[l] <= 0 || vw[l] <= 0) {
      return make_error(ErrorCode::kInvalidArgument, "layer {}: cache row widths must be positive", l);
    }
  }
  if (paging.paged()) LRKV_RETURN_IF_ERROR(validate_paging(paging));
  std::unique_ptr<RowKvCache> c(new RowKvCache(n_seq, capacity, std::move(kw), std::move(vw), dtype,
                                               std::move(kind), paging));
  c->storage_.reset(static_cast<uint8_t*>(alloc_aligned(static_cast<size_t>(c->total_bytes_))));
  if (!c->storage_) {
    return make_error(ErrorCode::kInvalidArgument, "cannot allocate a {:.1f} MiB KV cache ({} seqs x {} "
                      "tokens); lower --ctx or the batch", c->total_bytes_ / 1048576.0, n_seq, capacity);
  }
  return c;
}

int64_t RowKvCache::bytes_per_token(int layer) const {
  return dtype_bytes(dtype_, k_widths_[layer] + v_widths_[layer]);
}

uint8_t* RowKvCache::slot(int layer, int seq, int kv) const {
  LRKV_CHECK(layer >= 0 && layer < n_layer() && seq >= 0 && seq < n_seq(), "layer {} seq {}", layer, seq);
  const int64_t row = dtype_bytes(dtype_, kv ? v_widths_[layer] : k_widths_[layer]);
  const int64_t k_side = rows_ * dtype_bytes(dtype_, k_widths_[layer]);
  return storage_.get() + layer_offset_[layer] + (kv ? k_side : 0) + first_row(seq, capacity_) * row;
}

void RowKvCache::write(int layer, int seq, int pos, int n, const float* k, int64_t ldk, const float* v,
                       int64_t ldv) {
  LRKV_CHECK(pos >= 0 && pos + n <= capacity_, "write rows [{}, {}) beyond capacity {}", pos, pos + n, capacity_);
  const int kw = k_widths_[layer], vw = v_widths_[layer];
  const int64_t kr = dtype_bytes(dtype_, kw), vr = dtype_bytes(dtype_, vw);
  check_reserved(seq, pos + n);
  uint8_t* kd = slot(layer, seq, 0);
  uint8_t* vd = slot(layer, seq, 1);
  const RowMap map = row_map(seq);
  for (int i = 0; i < n; ++i) {
    const int64_t r = map(pos + i);
    store_row(kd + r * kr, dtype_, k + i * ldk, kw);
    store_row(vd + r * vr, dtype_, v + i * ldv, vw);
  }
}

Result<std::unique_ptr<RowKvCache>> make_dense_kv_cache(int n_layer, int n_seq, int capacity, int kv_dim,
                                                        DType dtype, KvPaging paging) {
  return RowKvCache::create(n_seq, capacity, std::vector<int>(n_layer, kv_dim),
                            std::vector<int>(n_layer, kv_dim), dtype,
                            fmt::format("dense {}", dtype_name(dtype)), paging);
}

}  // namespace lrkv
