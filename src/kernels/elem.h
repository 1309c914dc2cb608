// Scalar element access for f32/f16/bf16 buffers (reference kernels and cold paths).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace lrkv {

inline float load_elem(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::kF32: return static_cast<const float*>(base)[i];
    case DType::kF16: return f16_to_f32(static_cast<const f16_bits*>(base)[i]);
    case DType::kBF16: return bf16_to_f32(static_cast<const bf16_bits*>(base)[i]);
    default: LRKV_CHECK(false, "load_elem: unsupported dtype {}", dtype_name(t));
  }
  return 0.0f;
}

inline void store_elem(void* base, DType t, int64_t i, float v) {
  switch (t) {
    case DType::kF32: static_cast<float*>(base)[i] = v; return;
    case DType::kF16: static_cast<f16_bits*>(base)[i] = f32_to_f16(v); return;
    case DType::kBF16: static_cast<bf16_bits*>(base)[i] = f32_to_bf16(v); return;
    default: LRKV_CHECK(false, "store_elem: unsupported dtype {}", dtype_name(t));
  }
}

// Converts n floats into a row of dtype t (f32/f16/bf16).
void store_row(void* dst, DType t, const float* src, int64_t n);
// Converts a row of dtype t into n floats.
void load_row(const void* src, DType t, float* dst, int64_t n);

}  // namespace lrkv
