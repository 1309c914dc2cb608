#include "kernels/swiglu.h"

#include <cmath>

#include "core/thread_pool.h"

namespace lrkv::cpu {

void swiglu(const SwigluParams& p) {
  global_pool().parallel_for(p.rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = p.gate + r * p.ld;
      const float* u = p.up + r * p.ld;
      float* o = p.out + r * p.ld;
      for (int64_t c = 0; c < p.cols; ++c) o[c] = g[c] / (1.0f + std::exp(-g[c])) * u[c];
    }
  });
}

}  // namespace lrkv::cpu
