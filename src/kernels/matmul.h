// y[m, n] (+)= x[m, k] · W[n, k]ᵀ : the projection of m activation rows by a weight matrix stored
// [out=n, in=k] row-major (PyTorch layout) in f32, f16 or bf16.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace lrkv {

struct MatmulParams {
  const float* x = nullptr;  // [m, k], row stride ldx
  int64_t ldx = 0;
  const void* w = nullptr;   // [n, k], row stride ldw elements, dtype w_type
  int64_t ldw = 0;
  DType w_type = DType::kF32;
  float* y = nullptr;        // [m, n], row stride ldy
  int64_t ldy = 0;
  int64_t m = 0, n = 0, k = 0;
  bool accumulate = false;   // y += x Wᵀ instead of y = x Wᵀ
};

namespace ref {
// fp64 accumulation, scalar. The oracle.
void matmul(const MatmulParams& p);
}  // namespace ref

namespace cpu {
// f32 weights: OpenBLAS sgemm. f16/bf16 weights: for small m a threaded AVX2/F16C dot-product
// kernel that converts in registers (memory-bound decode); for large m, row tiles of W are
// converted to f32 and multiplied with sgemm (compute-bound prefill).
void matmul(const MatmulParams& p);
}  // namespace cpu

}  // namespace lrkv
