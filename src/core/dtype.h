// Element types of tensors and their storage sizes, plus scalar f16/bf16 <-> f32 conversion.
// Block-quantized types (GGML layouts) store `block_elems()` values in `block_bytes()` bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace lrkv {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF64,
  kI32,
  kI8,
  kQ8_0,  // GGML: 32 values, fp16 scale + 32 x int8            (34 bytes)
  kQ4_0,  // GGML: 32 values, fp16 scale + 16 bytes of nibbles   (18 bytes)
  kQ4_K,  // GGML: 256 values, fp16 d, dmin, 12 B scales, 128 B  (144 bytes)
  kQ6_K,  // GGML: 256 values, 128 B ql, 64 B qh, 16 x int8, fp16 (210 bytes)
};

std::string_view dtype_name(DType t);
bool dtype_from_name(std::string_view name, DType* out);  // "f32", "f16", "bf16", ...
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
bool dtype_is_quantized(DType t);
// Bytes for n elements; n must be a multiple of the block size (checked by callers).
inline int64_t dtype_bytes(DType t, int64_t n) {
  return n / dtype_block_elems(t) * dtype_block_bytes(t);
}

using f16_bits = uint16_t;
using bf16_bits = uint16_t;

// IEEE half <-> float, round-to-nearest-even, handles subnormals, inf, nan.
float f16_to_f32(f16_bits h);
f16_bits f32_to_f16(float f);

inline float bf16_to_f32(bf16_bits h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline bf16_bits f32_to_bf16(float f) {  // round-to-nearest-even; nan stays nan
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16_bits>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<bf16_bits>(u >> 16);
}

// Bulk conversions (vectorised where the CPU allows).
void convert_f16_to_f32(const f16_bits* src, float* dst, int64_t n);
void convert_f32_to_f16(const float* src, f16_bits* dst, int64_t n);
void convert_bf16_to_f32(const bf16_bits* src, float* dst, int64_t n);
void convert_f32_to_bf16(const float* src, bf16_bits* dst, int64_t n);

}  // namespace lrkv
