#include "kernels/rope.h"

#include <cmath>

namespace lrkv::ref {

void rope(const RopeParams& p) {
  const int half = p.head_dim / 2;
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int h = 0; h < p.n_heads; ++h) {
      float* x = p.x + r * p.ld + int64_t{h} * p.head_dim;
      for (int i = 0; i < half; ++i) {
        double a = static_cast<double>(p.positions[r]) * p.inv_freq[i];
        if (p.inverse) a = -a;
        const int i0 = p.layout == RopeLayout::kInterleaved ? 2 * i : i;
        const int i1 = p.layout == RopeLayout::kInterleaved ? 2 * i + 1 : i + half;
        const double x0 = x[i0], x1 = x[i1];
        x[i0] = static_cast<float>(x0 * std::cos(a) - x1 * std::sin(a));
        x[i1] = static_cast<float>(x0 * std::sin(a) + x1 * std::cos(a));
      }
    }
  }
}

}  // namespace lrkv::ref
