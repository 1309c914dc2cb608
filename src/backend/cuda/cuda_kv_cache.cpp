#include "backend/cuda/cuda_kv_cache.h"

#include <algorithm>

#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {

int64_t CudaKvCache::bytes_per_token(int layer) const { return token_bytes.at(layer); }

SeqRowMaps CudaKvCache::maps(int seq0) const {
  if (!pages() || tables_.data() == nullptr) return {};
  return SeqRowMaps{tables_.as<int32_t>() + int64_t{seq0} * table_ld_, table_ld_, pages()->shift()};
}

Status CudaKvCache::alloc_tables() {
  const BlockPool* pool = pages();
  if (pool == nullptr) return Status::Ok();
  table_ld_ = (int64_t{capacity_} + pool->block_rows() - 1) >> pool->shift();
  LRKV_ASSIGN_OR_RETURN(tables_, DeviceBuffer::create(size_t(n_seq()) * table_ld_ * sizeof(int32_t)));
  uploaded_.assign(size_t(n_seq()) * table_ld_, 0);
  return tables_.fill_bytes(0);
}

Status CudaKvCache::upload_tables(cudaStream_t stream) {
  const BlockPool* pool = pages();
  if (pool == nullptr) return Status::Ok();
  const int n = n_seq();
  staging_.assign(size_t(n) * table_ld_, 0);
  for (int s = 0; s < n; ++s) {
    const std::vector<int32_t>& t = pool->table(s);
    std::copy(t.begin(), t.begin() + std::min<int64_t>(table_ld_, static_cast<int64_t>(t.size())),
              staging_.begin() + int64_t{s} * table_ld_);
  }
  // Most decode steps map no new block (one in B tokens does): the device copy is already current.
  if (staging_ == uploaded_) return Status::Ok();
  uploaded_.swap(staging_);
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(tables_.data(), uploaded_.data(), uploaded_.size() * sizeof(int32_t),
                                            cudaMemcpyHostToDevice, stream),
                            "upload block tables");
  return Status::Ok();
}

int64_t CudaKvCache::allocated_bytes() const {
  int64_t b = 0;
  for (size_t l = 0; l < k.size(); ++l) b += static_cast<int64_t>(k[l].bytes() + v[l].bytes());
  return b;
}

}  // namespace lrkv::cuda
