#include "machine_rates.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace lrkv::bench {

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

double measure_read_bandwidth(int64_t bytes, int reps) {
  const int64_t n = bytes / 4;
  std::vector<float> buf(n, 1.0f);
  std::vector<float> ones(4096, 1.0f);
  double best = 0.0;
  std::atomic<int64_t> sink{0};
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    global_pool().parallel_for(n / 4096, 16, [&](int64_t b0, int64_t b1) {
      float s = 0.0f;
      for (int64_t b = b0; b < b1; ++b) s += cpu::dot(buf.data() + b * 4096, ones.data(), 4096);
      sink += static_cast<int64_t>(s);
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
