// GGML block quantisation formats: dequantisation of every block type lrkv reads (q8_0, q4_0,
// q4_K, q6_K) and round-to-nearest quantisation (q8_0, q4_0) with llama.cpp's rules, reused by
// the GGUF writer and KV-cache quantisation.
//
// Block layouts (little-endian, packed; fp16 = IEEE half):
//   q8_0: 32 values in 34 B   { fp16 d; int8 q[32]; }              x = d * q
//   q4_0: 32 values in 18 B   { fp16 d; uint8 qs[16]; }            x = d * (nibble - 8);
//         byte j holds element j (low nibble) and element j + 16 (high nibble)
//   q4_K: 256 values in 144 B { fp16 d, dmin; uint8 scales[12]; uint8 qs[128]; }
//         8 sub-blocks of 32 with 6-bit (scale, min) pairs; x = d*sc*q - dmin*m
//   q6_K: 256 values in 210 B { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; fp16 d; }
//         16 sub-blocks of 16; x = d * scale * (q - 32), q = 4 low bits | 2 high bits << 4
// All functions are thread-safe (pure) and O(n).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace lrkv {

// Dequantisation: see core/tensor.h,
//   Status dequantize_to_f32(DType src_type, const void* src, float* dst, int64_t n);
// `n` must be a multiple of the block size of block types (kInvalidArgument otherwise).

// Checks that n elements of `t` form whole blocks; the error names `what`.
Status check_block_multiple(DType t, int64_t n, const char* what);

// q8_0: per block d = amax / 127, q = round(x / d) (half away from zero). n % 32 == 0.
// `dst` receives n / 32 * 34 bytes. |x - d16 * q| <= d/2 + 127 * |d - d16| (d16: fp16(d)).
Status quantize_q8_0(const float* src, void* dst, int64_t n);
// q4_0: per block m = the value of largest magnitude (sign kept), d = m / -8,
// q = min(15, floor(x / d + 8.5)). n % 32 == 0. `dst` receives n / 32 * 18 bytes.
// |error| <= |d|/2, except values with x/d >= 7.5 (opposite sign to m, near |m|), which clamp
// to q = 15 and err by up to |d|.
Status quantize_q4_0(const float* src, void* dst, int64_t n);
// Converts n f32 values to `dst_type` (f32, f16, bf16, q8_0, q4_0); others are kUnsupported.
Status quantize_from_f32(DType dst_type, const float* src, void* dst, int64_t n);

}  // namespace lrkv
