// Parameters of skinny_matmul (skinny_matmul.h), kept free of Status/fmt so the .cu sees only this.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace lrkv::cuda {

inline constexpr int kSkinnyMaxRows = 8;     // activation rows m (decode batch) per launch
inline constexpr int kSkinnyMaxOutputs = 3;  // consecutive row ranges of W (q | k | v, gate | up)

// Row range [row0, row0 + n) of W goes to y[t, 0..n) with row stride ldy.
struct SkinnyOutput {
  float* y = nullptr;
  int64_t ldy = 0;
  int64_t row0 = 0, n = 0;
  int accumulate = 0;  // y += instead of y =
};

// RMSNorm of a projection's results, for one that writes the residual stream (a single output
// over all n_rows rows of W, usually accumulating: x += att · W_oᵀ). With y [m, n_rows] the rows
// after the store,
//   h[t, j] = y[t, j] · gain[j]                        (each CTA, for its rows of W)
//   rs[t]   = rsqrt(Σ_j y[t, j]² / n_rows + eps)       (the last CTA to finish)
// so rmsnorm(y) · Vᵀ = rs[t] · (h · Vᵀ) for the next projection V (SkinnyMatmulArgs::row_scale)
// and no separate norm kernel runs. Each CTA stores its Σ y² over its rows in partial[cta, t] and
// takes a ticket from *counter; the last one sums partial[0 .., t] in CTA order (the same result
// whichever CTA is last) and sets *counter back to 0.
struct SkinnyNormOut {
  float* h = nullptr;  // [m, ldh]; nullptr: no norm
  int64_t ldh = 0;
  const float* gain = nullptr;  // [n_rows]
  float eps = 0.0f;
  float* rs = nullptr;           // [m]
  float* partial = nullptr;      // [partial_ctas, m] scratch
  int64_t partial_ctas = 0;      // capacity of partial in CTAs: (n_rows + 1) / 2 covers every grid
  unsigned* counter = nullptr;   // 0 before the launch, 0 after it
};

struct SkinnyMatmulArgs {
  const float* x = nullptr;  // [m, k], row stride ldx (f32, 16-byte aligned rows)
  int64_t ldx = 0;
  int m = 0;                 // 1..kSkinnyMaxRows
  const void* w = nullptr;   // [n_rows, k], row stride ldw elements (16-byte aligned rows)
  int64_t ldw = 0, k = 0, n_rows = 0;
  DType w_type = DType::kBF16;
  int n_out = 0;
  SkinnyOutput out[kSkinnyMaxOutputs];
  int split = 0;  // warps sharing each row's K inside a CTA: 1, 2 or 4; 0: chosen from the shape
  // [m] or nullptr: the results of row t are multiplied by row_scale[t] before they are stored
  // (x holds h of a SkinnyNormOut, row_scale its rs: the projection of rmsnorm(y)).
  const float* row_scale = nullptr;
  // W's rows are (gate, up) pairs (W_gate and W_up interleaved row by row): the single output gets
  // n_rows / 2 values y[t, j] = silu(g) · u with g, u the results of rows 2j, 2j + 1 (after
  // row_scale), silu(g) = g / (1 + exp(-g)); the SwiGLU of a Llama FFN without its own launch.
  int swiglu_pairs = 0;
  SkinnyNormOut norm;  // norm.h != nullptr: RMSNorm of the results too (one output, split 2 or 4)
};

// The launch behind skinny_matmul (skinny_matmul.cu), arguments already checked; the device's
// multiprocessor count decides whether K is split inside a CTA.
cudaError_t launch_skinny_matmul(const SkinnyMatmulArgs& a, int multiprocessors, cudaStream_t stream);

}  // namespace lrkv::cuda
