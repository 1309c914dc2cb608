#include "machine_rates.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace lrkv::bench {

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

// Sum of n floats with 4 independent AVX accumulators (loads are the only memory traffic).
float read_sum(const float* p, int64_t n) {
#if LRKV_AVX2
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  float s = cpu::hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += p[i];
  return s;
#else
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
#endif
}

double measure_read_bandwidth(int64_t bytes, int reps) {
  const int64_t n = bytes / 4;
  // Same allocator as the weights (huge pages where allowed).
  Tensor buf = Tensor::zeros(DType::kF32, {n});
  double best = 0.0;
  std::atomic<int64_t> sink{0};
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    global_pool().parallel_for(n, 1 << 20, [&](int64_t i0, int64_t i1) {
      sink += static_cast<int64_t>(read_sum(buf.f32() + i0, i1 - i0));
    });
    best = std::max(best, bytes / (now() - t0));
  }
  return best;
}

double measure_sgemm_flops(int64_t m, int64_t n, int64_t k, int reps) {
  std::vector<float> a(m * k, 0.5f), b(n * k, 0.25f), c(m * n);
  double best = 0.0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k,
                0.0f, c.data(), n);
    best = std::max(best, 2.0 * m * n * k / (now() - t0));
  }
  return best;
}

}  // namespace lrkv::bench
