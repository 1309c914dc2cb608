// Parameters of skinny_matmul (skinny_matmul.h), kept free of Status/fmt so the .cu sees only this.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/cuda/elementwise_kernels.h"

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

// RoPE and the cache writes in the epilogue of a dense decode step's q|k|v projection (outputs
// 0, 1, 2 = q, k, v), interleaved pairs: dims 2i, 2i + 1 of a head rotated by the angle
// positions[t] · inv_freq[i] (rope_pair's arithmetic, so the values are those of the rope_qk
// kernel), then k and v stored into k_cache / v_cache (CacheWriteParams, row t; dst null: none).
// A warp's rows start at an even row and come in even numbers, and q and k span whole heads of an
// even head_dim, so both values of a pair are in one lane.
struct SkinnyRope {
  const int* positions = nullptr;   // [m] device; nullptr: no RoPE
  const float* inv_freq = nullptr;  // [head_dim / 2] device
  int head_dim = 0;
  CacheWriteParams k_cache, v_cache;  // src, ld_src, rows, width unused
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
  // W's rows are (gate, up) pairs (W_gate and W_up interleaved row by row): the single output gets
  // n_rows / 2 values y[t, j] = silu(g) · u with g, u the results of rows 2j, 2j + 1,
  // silu(g) = g / (1 + exp(-g)): a Llama FFN's SwiGLU without its own launch.
  int swiglu_pairs = 0;
  SkinnyRope rope;  // rope.positions != nullptr: the q|k|v epilogue above
};

// The launch behind skinny_matmul (skinny_matmul.cu), arguments already checked; the device's
// multiprocessor count decides whether K is split inside a CTA.
cudaError_t launch_skinny_matmul(const SkinnyMatmulArgs& a, int multiprocessors, cudaStream_t stream);

}  // namespace lrkv::cuda
