#include "kernels/rmsnorm.h"

#include <cmath>

namespace lrkv::ref {

void rmsnorm(const RmsNormParams& p) {
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* x = p.x + r * p.ld;
    double ss = 0.0;
    for (int64_t c = 0; c < p.cols; ++c) ss += static_cast<double>(x[c]) * x[c];
    const double inv = 1.0 / std::sqrt(ss / p.cols + p.eps);
    float* y = p.y + r * p.ld;
    for (int64_t c = 0; c < p.cols; ++c) y[c] = static_cast<float>(x[c] * inv * p.weight[c]);
  }
}

}  // namespace lrkv::ref
