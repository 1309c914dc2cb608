// PinnedBuffer: one owning, move-only page-locked host allocation (cudaHostAlloc / cudaFreeHost).
// Copies between it and the device run asynchronously on the copy engines, and, unlike pageable
// memory, can be captured into a CUDA graph: a decode graph uploads its token ids from one and
// downloads its sampled tokens into one (cuda_decode_graph.cpp).
#pragma once

#include <cstddef>
#include <utility>

#include "core/status.h"

namespace lrkv::cuda {

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  static Result<PinnedBuffer> create(size_t bytes);
  PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() { reset(); }
  void* data() const { return ptr_; }
  std::byte* bytes_at(size_t offset) const { return static_cast<std::byte*>(ptr_) + offset; }
  size_t bytes() const { return bytes_; }
  void reset();

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace lrkv::cuda
