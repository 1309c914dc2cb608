#include "backend/cuda/device_pool.h"

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {

void PoolBuffer::release() {
  if (ptr_ && owned_) cudaFreeAsync(ptr_, stream_);
  if (ptr_ && !owned_ && arena_pool_) arena_pool_->arena_release(ptr_, bytes_);
  arena_pool_ = nullptr;
  ptr_ = nullptr;
  bytes_ = 0;
}

DevicePool::~DevicePool() {
  if (pool_) cudaMemPoolDestroy(pool_);
}

Status DevicePool::init() {
  if (pool_) return Status::Ok();
  int dev = 0;
  LRKV_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev), "cudaGetDevice");
  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = dev;
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemPoolCreate(&pool_, &props), "cudaMemPoolCreate");
  uint64_t keep = UINT64_MAX;  // never trim: steady-state steps reuse their blocks
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep),
                            "cudaMemPoolSetAttribute");
  return Status::Ok();
}

void DevicePool::set_arena(void* base, size_t bytes) {
  arena_ = static_cast<char*>(base);
  arena_bytes_ = base ? bytes : 0;
  arena_used_ = arena_peak_ = 0;
}

// Pops the slice when it is the top of the current arena (slices of an earlier arena, or below
// the top, stay where they are).
void DevicePool::arena_release(void* ptr, size_t bytes) {
  char* p = static_cast<char*>(ptr);
  if (arena_ && p >= arena_ && p + bytes == arena_ + arena_used_) arena_used_ -= bytes;
}

Result<PoolBuffer> DevicePool::alloc(size_t bytes, cudaStream_t stream) {
  PoolBuffer b;
  bytes = (bytes + 255) / 256 * 256;
  if (bytes == 0) bytes = 256;
  if (arena_) {
    arena_peak_ = std::max(arena_peak_, arena_used_ + bytes);
    if (arena_used_ + bytes > arena_bytes_) {
      return make_error(ErrorCode::kInternal, "device arena of {} bytes: {} more asked for after {}",
                        arena_bytes_, bytes, arena_used_);
    }
    b.ptr_ = arena_ + arena_used_;
    b.bytes_ = bytes;
    b.stream_ = stream;
    b.owned_ = false;
    b.arena_pool_ = this;
    arena_used_ += bytes;
    return b;
  }
  LRKV_RETURN_IF_ERROR(init());
  LRKV_CUDA_RETURN_IF_ERROR(cudaMallocFromPoolAsync(&b.ptr_, bytes, pool_, stream), "cudaMallocFromPoolAsync");
  b.bytes_ = bytes;
  b.stream_ = stream;
  return b;
}

}  // namespace lrkv::cuda
