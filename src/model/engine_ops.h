// Small engine-internal helpers over the CPU kernels (not part of the public API).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace lrkv::engine_ops {

// y[T, n] (+)= x[T, k] · Wᵀ for a weight [n, k]; x and y rows are contiguous unless ld given.
void project(const float* x, int64_t T, const Tensor& w, float* y, bool accumulate = false,
             int64_t ldx = -1, int64_t ldy = -1);
// y[t, :n] += b for every row (no-op for an empty bias).
void add_bias(float* y, int64_t T, const Tensor& b, int64_t ldy = -1);
void rmsnorm_rows(const float* x, float* y, int64_t T, const Tensor& w, float eps);

}  // namespace lrkv::engine_ops
