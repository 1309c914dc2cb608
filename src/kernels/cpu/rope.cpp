#include "kernels/rope.h"

#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace lrkv::cpu {

void rope(const RopeParams& p) {
  const int half = p.head_dim / 2;
  global_pool().parallel_for(p.rows, 4, [&](int64_t r0, int64_t r1) {
    std::vector<float> cs(half), sn(half);
    for (int64_t r = r0; r < r1; ++r) {
      for (int i = 0; i < half; ++i) {
        // Angle in double: positions up to 1e6 times frequencies near 1 need the precision.
        const double a = static_cast<double>(p.positions[r]) * p.inv_freq[i];
        cs[i] = static_cast<float>(std::cos(a));
        sn[i] = static_cast<float>(p.inverse ? -std::sin(a) : std::sin(a));
      }
      for (int h = 0; h < p.n_heads; ++h) {
        float* x = p.x + r * p.ld + int64_t{h} * p.head_dim;
        if (p.layout == RopeLayout::kInterleaved) {
          for (int i = 0; i < half; ++i) {
            const float x0 = x[2 * i], x1 = x[2 * i + 1];
            x[2 * i] = x0 * cs[i] - x1 * sn[i];
            x[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
          }
        } else {
          for (int i = 0; i < half; ++i) {
            const float x0 = x[i], x1 = x[i + half];
            x[i] = x0 * cs[i] - x1 * sn[i];
            x[i + half] = x0 * sn[i] + x1 * cs[i];
          }
        }
      }
    }
  });
}

}  // namespace lrkv::cpu
