// DevicePool: stream-ordered scratch memory (cudaMallocAsync on a private cudaMemPool that keeps
// freed memory for reuse), for per-step activations and workspaces. PoolBuffer returns its block
// to the pool on the stream it was taken on when it goes out of scope. Not thread-safe.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "core/status.h"

namespace lrkv::cuda {

class DevicePool;

class PoolBuffer {
 public:
  PoolBuffer() = default;
  PoolBuffer(PoolBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)), stream_(o.stream_) {}
  PoolBuffer& operator=(PoolBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
      stream_ = o.stream_;
    }
    return *this;
  }
  PoolBuffer(const PoolBuffer&) = delete;
  PoolBuffer& operator=(const PoolBuffer&) = delete;
  ~PoolBuffer() { release(); }
  void* data() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  friend class DevicePool;
  void release();
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  cudaStream_t stream_ = nullptr;
};

class DevicePool {
 public:
  DevicePool() = default;
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
  ~DevicePool();
  // `bytes` (rounded up to 256) usable in stream order on `stream`.
  Result<PoolBuffer> alloc(size_t bytes, cudaStream_t stream);

 private:
  Status init();
  cudaMemPool_t pool_ = nullptr;
};

}  // namespace lrkv::cuda
