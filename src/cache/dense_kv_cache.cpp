#include "cache/dense_kv_cache.h"

#include <fmt/format.h>

#include <new>

#include "core/tensor.h"
#include "kernels/elem.h"

namespace lrkv {

DenseKvCache::DenseKvCache(int n_layer, int n_seq, int capacity, int kv_dim, DType dtype)
    : KvCache(n_seq), n_layer_(n_layer), capacity_(capacity), kv_dim_(kv_dim), dtype_(dtype),
      slot_bytes_(dtype_bytes(dtype, int64_t{capacity} * kv_dim)) {}

Result<std::unique_ptr<DenseKvCache>> DenseKvCache::create(int n_layer, int n_seq, int capacity,
                                                           int kv_dim, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) {
    return make_error(ErrorCode::kInvalidArgument, "dense KV cache type must be f32, f16 or bf16, got {}",
                      dtype_name(dtype));
  }
  if (n_layer <= 0 || n_seq <= 0 || capacity <= 0 || kv_dim <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "KV cache sizes must be positive (layers {}, seqs {}, "
                      "capacity {}, kv_dim {})", n_layer, n_seq, capacity, kv_dim);
  }
  std::unique_ptr<DenseKvCache> c(new DenseKvCache(n_layer, n_seq, capacity, kv_dim, dtype));
  const int64_t total = c->allocated_bytes();
  c->storage_.reset(static_cast<uint8_t*>(alloc_aligned(static_cast<size_t>(total))));
  if (!c->storage_) {
    return make_error(ErrorCode::kInvalidArgument, "cannot allocate a {:.1f} MiB KV cache ({} seqs x {} "
                      "tokens); lower --ctx or the batch", total / 1048576.0, n_seq, capacity);
  }
  return c;
}

std::string DenseKvCache::kind() const { return fmt::format("dense {}", dtype_name(dtype_)); }

int64_t DenseKvCache::bytes_per_token(int layer) const { return 2 * dtype_bytes(dtype_, kv_dim_); }

int64_t DenseKvCache::allocated_bytes() const { return slot_bytes_ * 2 * n_layer_ * n_seq(); }

void* DenseKvCache::slot(int layer, int seq, int kv) const {
  LRKV_CHECK(layer >= 0 && layer < n_layer_ && seq >= 0 && seq < n_seq(), "layer {} seq {}", layer, seq);
  return storage_.get() + ((int64_t{layer} * n_seq() + seq) * 2 + kv) * slot_bytes_;
}

void DenseKvCache::write(int layer, int seq, int pos, int n, const float* k, const float* v,
                         int64_t ld) {
  LRKV_CHECK(pos >= 0 && pos + n <= capacity_, "write rows [{}, {}) beyond capacity {}", pos, pos + n,
             capacity_);
  const int64_t row_bytes = dtype_bytes(dtype_, kv_dim_);
  auto* kd = static_cast<uint8_t*>(slot(layer, seq, 0)) + pos * row_bytes;
  auto* vd = static_cast<uint8_t*>(slot(layer, seq, 1)) + pos * row_bytes;
  for (int i = 0; i < n; ++i) {
    store_row(kd + i * row_bytes, dtype_, k + i * ld, kv_dim_);
    store_row(vd + i * row_bytes, dtype_, v + i * ld, kv_dim_);
  }
}

}  // namespace lrkv
