// Vector primitives for CPU kernels: dot products and axpy over f32 with f32/f16/bf16 operands.
// AVX2+FMA+F16C paths when compiled for them (x86-64-v3), scalar otherwise.
#pragma once

#include <cstdint>

#include "core/dtype.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define LRKV_AVX2 1
#endif

namespace lrkv::cpu {

#if LRKV_AVX2
inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}
// 8 bf16 values -> 8 floats.
inline __m256 load_bf16x8(const bf16_bits* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline __m256 load_f16x8(const f16_bits* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
#endif

float dot(const float* a, const float* b, int64_t n);
float dot_f16(const float* a, const f16_bits* b, int64_t n);
float dot_bf16(const float* a, const bf16_bits* b, int64_t n);
// dot of f32 `a` with a row of dtype t.
float dot_any(const float* a, const void* b, DType t, int64_t n);
// y += alpha * x
void axpy(float* y, float alpha, const float* x, int64_t n);
void axpy_any(float* y, float alpha, const void* x, DType t, int64_t n);
void scale(float* y, float alpha, int64_t n);

}  // namespace lrkv::cpu
