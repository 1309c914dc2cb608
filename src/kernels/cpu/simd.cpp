#include "kernels/cpu/simd.h"

#include "core/status.h"

namespace lrkv::cpu {

float dot(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float s = 0.0f;
#if LRKV_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  s = hsum(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float dot_f16(const float* a, const f16_bits* b, int64_t n) {
  int64_t i = 0;
  float s = 0.0f;
#if LRKV_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_f16x8(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_f16x8(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_f16x8(b + i), acc0);
  s = hsum(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; ++i) s += a[i] * f16_to_f32(b[i]);
  return s;
}

float dot_bf16(const float* a, const bf16_bits* b, int64_t n) {
  int64_t i = 0;
  float s = 0.0f;
#if LRKV_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_bf16x8(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_bf16x8(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_bf16x8(b + i), acc0);
  s = hsum(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; ++i) s += a[i] * bf16_to_f32(b[i]);
  return s;
}

float dot_any(const float* a, const void* b, DType t, int64_t n) {
  switch (t) {
    case DType::kF32: return dot(a, static_cast<const float*>(b), n);
    case DType::kF16: return dot_f16(a, static_cast<const f16_bits*>(b), n);
    case DType::kBF16: return dot_bf16(a, static_cast<const bf16_bits*>(b), n);
    default: LRKV_CHECK(false, "dot_any: dtype {}", dtype_name(t));
  }
  return 0.0f;
}

void axpy(float* y, float alpha, const float* x, int64_t n) {
  int64_t i = 0;
#if LRKV_AVX2
  const __m256 va = _mm256_set1_ps(alpha);
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
#endif
  for (; i < n; ++i) y[i] += alpha * x[i];
}

void axpy_any(float* y, float alpha, const void* x, DType t, int64_t n) {
  if (t == DType::kF32) return axpy(y, alpha, static_cast<const float*>(x), n);
  int64_t i = 0;
#if LRKV_AVX2
  const __m256 va = _mm256_set1_ps(alpha);
  if (t == DType::kF16) {
    const auto* h = static_cast<const f16_bits*>(x);
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16x8(h + i), _mm256_loadu_ps(y + i)));
    }
  } else if (t == DType::kBF16) {
    const auto* h = static_cast<const bf16_bits*>(x);
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_bf16x8(h + i), _mm256_loadu_ps(y + i)));
    }
  }
#endif
  for (; i < n; ++i) {
    const float v = t == DType::kF16 ? f16_to_f32(static_cast<const f16_bits*>(x)[i])
                                     : bf16_to_f32(static_cast<const bf16_bits*>(x)[i]);
    y[i] += alpha * v;
  }
}

void scale(float* y, float alpha, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= alpha;
}

}  // namespace lrkv::cpu
