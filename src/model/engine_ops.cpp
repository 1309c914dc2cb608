#include "model/engine_ops.h"

#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"

namespace lrkv::engine_ops {

void project(const float* x, int64_t T, const Tensor& w, float* y, bool accumulate, int64_t ldx, int64_t ldy) {
  MatmulParams p;
  p.x = x;
  p.ldx = ldx < 0 ? w.dim(1) : ldx;
  p.w = w.data();
  p.w_type = w.dtype();
  p.ldw = w.dim(1);
  p.y = y;
  p.ldy = ldy < 0 ? w.dim(0) : ldy;
  p.m = T;
  p.n = w.dim(0);
  p.k = w.dim(1);
  p.accumulate = accumulate;
  cpu::matmul(p);
}

void add_bias(float* y, int64_t T, const Tensor& b, int64_t ldy) {
  if (b.empty()) return;
  const int64_t n = b.dim(0);
  if (ldy < 0) ldy = n;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < n; ++j) y[t * ldy + j] += b.f32()[j];
  }
}

void rmsnorm_rows(const float* x, float* y, int64_t T, const Tensor& w, float eps) {
  RmsNormParams p;
  p.x = x;
  p.y = y;
  p.weight = w.f32();
  p.rows = T;
  p.cols = w.dim(0);
  p.ld = w.dim(0);
  p.eps = eps;
  cpu::rmsnorm(p);
}

}  // namespace lrkv::engine_ops
