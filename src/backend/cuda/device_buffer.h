// DeviceBuffer: one owning, move-only device allocation (cudaMalloc / cudaFree) with typed
// access and synchronous host copies. For long-lived storage (weights, caches); per-step
// scratch comes from DevicePool.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "core/status.h"

namespace lrkv::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static Result<DeviceBuffer> create(size_t bytes);
  // A buffer holding a copy of host data.
  template <class T>
  static Result<DeviceBuffer> from_host(const std::vector<T>& v) {
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer b, create(v.size() * sizeof(T)));
    LRKV_RETURN_IF_ERROR(b.upload(v.data(), v.size() * sizeof(T)));
    return b;
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }

  void* data() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }
  bool empty() const { return ptr_ == nullptr; }

  // Synchronous copies of `bytes` at byte offset `offset`.
  Status upload(const void* src, size_t bytes, size_t offset = 0);
  Status download(void* dst, size_t bytes, size_t offset = 0) const;
  // Fills every byte with `value` (e.g. 0xFF poisons f32/f16 data with NaN).
  Status fill_bytes(int value);
  void reset();

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Whether a CUDA device is usable (tests skip otherwise); `why` gets the reason when not.
bool device_available(std::string* why = nullptr);

}  // namespace lrkv::cuda
