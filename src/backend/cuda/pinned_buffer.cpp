#include "backend/cuda/pinned_buffer.h"

#include <cuda_runtime.h>

namespace lrkv::cuda {

Result<PinnedBuffer> PinnedBuffer::create(size_t bytes) {
  PinnedBuffer b;
  if (bytes == 0) return b;
  const cudaError_t e = cudaHostAlloc(&b.ptr_, bytes, cudaHostAllocDefault);
  if (e != cudaSuccess) {
    b.ptr_ = nullptr;
    (void)cudaGetLastError();  // not sticky: later calls should not report it
    return make_error(ErrorCode::kInternal, "cudaHostAlloc of {} bytes: {}", bytes, cudaGetErrorString(e));
  }
  b.bytes_ = bytes;
  return b;
}

void PinnedBuffer::reset() {
  if (ptr_) cudaFreeHost(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

}  // namespace lrkv::cuda
