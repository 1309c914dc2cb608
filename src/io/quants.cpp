// STUB (to be replaced by the GGUF work): f32/f16/bf16 only.
#include "io/quants.h"

#include <cstring>

#include "core/tensor.h"

namespace lrkv {

Status dequantize_to_f32(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, n * 4); return Status::Ok();
    case DType::kF16: convert_f16_to_f32(static_cast<const f16_bits*>(src), dst, n); return Status::Ok();
    case DType::kBF16: convert_bf16_to_f32(static_cast<const bf16_bits*>(src), dst, n); return Status::Ok();
    default:
      return make_error(ErrorCode::kUnsupported, "dequantisation of {} not implemented", dtype_name(t));
  }
}

}  // namespace lrkv
