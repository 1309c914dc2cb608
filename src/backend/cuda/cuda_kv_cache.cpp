#include "backend/cuda/cuda_kv_cache.h"

namespace lrkv::cuda {

int64_t CudaKvCache::bytes_per_token(int layer) const { return token_bytes.at(layer); }

int64_t CudaKvCache::allocated_bytes() const {
  int64_t b = 0;
  for (size_t l = 0; l < k.size(); ++l) b += static_cast<int64_t>(k[l].bytes() + v[l].bytes());
  return b;
}

}  // namespace lrkv::cuda
