#include "kernels/swiglu.h"

#include <cmath>

namespace lrkv::ref {

void swiglu(const SwigluParams& p) {
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      const double g = p.gate[r * p.ld + c];
      p.out[r * p.ld + c] = static_cast<float>(g / (1.0 + std::exp(-g)) * p.up[r * p.ld + c]);
    }
  }
}

}  // namespace lrkv::ref
