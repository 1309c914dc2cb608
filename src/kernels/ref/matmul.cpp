#include "kernels/matmul.h"

#include "kernels/elem.h"

namespace lrkv::ref {

void matmul(const MatmulParams& p) {
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      double acc = 0.0;
      for (int64_t c = 0; c < p.k; ++c) {
        acc += static_cast<double>(p.x[i * p.ldx + c]) * load_elem(p.w, p.w_type, j * p.ldw + c);
      }
      float& y = p.y[i * p.ldy + j];
      y = static_cast<float>(p.accumulate ? y + acc : acc);
    }
  }
}

}  // namespace lrkv::ref
