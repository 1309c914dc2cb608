#include "backend/cuda/cuda_cache_fill.h"

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/fill.h"

namespace lrkv::cuda {

Status fill_cache_random(CudaKvCache& cache, int length, uint64_t seed) {
  if (length < 0 || length > cache.capacity()) {
    return make_error(ErrorCode::kInvalidArgument, "fill_cache_random({}) with capacity {}", length,
                      cache.capacity());
  }
  const FillType t = cache.dtype() == DType::kBF16 && !cache.quantized() ? FillType::kBF16 : FillType::kF16;
  for (int l = 0; l < cache.n_layer(); ++l) {
    for (DeviceBuffer* b : {&cache.k[l], &cache.v[l]}) {
      LRKV_CUDA_RETURN_IF_ERROR(
          fill_uniform(b->data(), t, static_cast<int64_t>(b->bytes() / 2), seed + 2 * l, 1.0f, nullptr), "fill cache");
    }
  }
  LRKV_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "fill cache");
  for (int s = 0; s < cache.n_seq(); ++s) {
    cache.truncate(s, 0);
    LRKV_RETURN_IF_ERROR(cache.reserve(s, length));  // paged: blocks for the filled rows
    cache.advance(s, length);
  }
  return Status::Ok();
}

}  // namespace lrkv::cuda
