// Tensor: a named, typed, row-major n-d array (shape.back() is contiguous, as in numpy/PyTorch).
// Storage is shared (std::shared_ptr) so tensors can view an mmap'd file or own a heap buffer.
// Weight matrices follow the PyTorch convention [out_features, in_features].
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lrkv {

class Tensor {
 public:
  Tensor() = default;
  // A new zero-initialised tensor owning its storage.
  static Tensor zeros(DType dtype, std::vector<int64_t> shape, std::string name = {});
  // A view of external memory kept alive by `owner` (e.g. an mmap'd file).
  static Tensor view(DType dtype, std::vector<int64_t> shape, void* data,
                     std::shared_ptr<void> owner, std::string name = {});

  bool empty() const { return data_ == nullptr; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? shape_.size() + i : i]; }
  int64_t numel() const;
  int64_t nbytes() const { return dtype_bytes(dtype_, numel()); }
  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T>
  T* data_as() { return static_cast<T*>(data_); }
  template <typename T>
  const T* data_as() const { return static_cast<const T*>(data_); }
  float* f32() { LRKV_CHECK(dtype_ == DType::kF32, "{} is {}", name_, dtype_name(dtype_)); return data_as<float>(); }
  const float* f32() const { LRKV_CHECK(dtype_ == DType::kF32, "{} is {}", name_, dtype_name(dtype_)); return data_as<float>(); }

  // Same data, new shape with the same element count.
  Tensor reshaped(std::vector<int64_t> shape) const;
  // A deep copy converted to `dtype` (f32/f16/bf16 targets; any source incl. quantized).
  Result<Tensor> to(DType dtype) const;
  // Deep copy (same dtype).
  Tensor clone() const;
  std::string shape_str() const;  // "[4096, 4096]"

 private:
  DType dtype_ = DType::kF32;
  std::vector<int64_t> shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
  std::string name_;
};

std::string shape_to_string(const std::vector<int64_t>& shape);

// Aligned heap memory for tensors and caches (64 B; 2 MiB + huge pages for large buffers).
// Release with std::free.
void* alloc_aligned(size_t bytes);

// Dequantises / converts `n` elements of `src` (any dtype) to f32. Implemented in io/quants.cpp
// for block types; returns an error for types that cannot be converted.
Status dequantize_to_f32(DType src_type, const void* src, float* dst, int64_t n);

}  // namespace lrkv
