#include "kernels/rmsnorm.h"

#include <cmath>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace lrkv::cpu {

void rmsnorm(const RmsNormParams& p) {
  global_pool().parallel_for(p.rows, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = p.x + r * p.ld;
      const float ss = dot(x, x, p.cols);
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(p.cols) + p.eps);
      float* y = p.y + r * p.ld;
      for (int64_t c = 0; c < p.cols; ++c) y[c] = x[c] * inv * p.weight[c];
    }
  });
}

}  // namespace lrkv::cpu
