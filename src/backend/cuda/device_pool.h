// DevicePool: stream-ordered scratch memory (cudaMallocAsync on a private cudaMemPool that keeps
// freed memory for reuse), for per-step activations and workspaces. PoolBuffer returns its block
// to the pool on the stream it was taken on when it goes out of scope. Not thread-safe.
//
// Arena mode (CUDA graph capture): between set_arena(base, bytes) and set_arena(nullptr, 0),
// alloc() hands out consecutive 256-byte aligned slices of [base, base + bytes) (a stack: a slice
// released while it is the top one is handed out again, so per-layer workspaces reuse one place;
// the captured stream orders its users) and nothing is freed to the driver: captured kernels keep
// those addresses, so the memory belongs to the graph (its owner keeps the arena alive), and no
// allocation node enters the graph. An arena too small is an error; arena_peak() then says how
// far the stack reached (the capture is retried with a larger arena).
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
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)), stream_(o.stream_),
        owned_(o.owned_), arena_pool_(std::exchange(o.arena_pool_, nullptr)) {}
  PoolBuffer& operator=(PoolBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
      stream_ = o.stream_;
      owned_ = o.owned_;
      arena_pool_ = std::exchange(o.arena_pool_, nullptr);
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
  bool owned_ = true;             // false: a slice of an arena
  DevicePool* arena_pool_ = nullptr;  // the pool whose arena it came from
};

class DevicePool {
 public:
  DevicePool() = default;
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
  ~DevicePool();
  // `bytes` (rounded up to 256) usable in stream order on `stream`.
  Result<PoolBuffer> alloc(size_t bytes, cudaStream_t stream);
  // Arena mode on (base != nullptr) or off; arena_peak() = the highest the stack reached since it
  // was set, counting an allocation that did not fit.
  void set_arena(void* base, size_t bytes);
  size_t arena_peak() const { return arena_peak_; }

 private:
  friend class PoolBuffer;
  Status init();
  void arena_release(void* ptr, size_t bytes);
  cudaMemPool_t pool_ = nullptr;
  char* arena_ = nullptr;
  size_t arena_bytes_ = 0, arena_used_ = 0, arena_peak_ = 0;
};

}  // namespace lrkv::cuda
