#include "kernels/elem.h"

#include <cstring>

namespace lrkv {

void store_row(void* dst, DType t, const float* src, int64_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::kF16: convert_f32_to_f16(src, static_cast<f16_bits*>(dst), n); return;
    case DType::kBF16: convert_f32_to_bf16(src, static_cast<bf16_bits*>(dst), n); return;
    default: LRKV_CHECK(false, "store_row: unsupported dtype {}", dtype_name(t));
  }
}

void load_row(const void* src, DType t, float* dst, int64_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::kF16: convert_f16_to_f32(static_cast<const f16_bits*>(src), dst, n); return;
    case DType::kBF16: convert_bf16_to_f32(static_cast<const bf16_bits*>(src), dst, n); return;
    default: LRKV_CHECK(false, "load_row: unsupported dtype {}", dtype_name(t));
  }
}

}  // namespace lrkv
