// Kernel launchers behind elementwise.h (plain types only: nvcc cannot include core/status.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/row_map.h"

namespace lrkv::cuda {

// See elementwise.h for the semantics.
struct CacheWriteParams {
  const float* src = nullptr;
  int64_t ld_src = 0, rows = 0;
  int width = 0;
  void* dst = nullptr;
  DType type = DType::kBF16;
  const int* seq = nullptr;  // [rows] device
  const int* pos = nullptr;  // [rows] device
  int64_t seq_stride = 0, row_stride = 0, seg_stride = 0;
  int seg = 0;
  SeqRowMaps maps;  // paged: row (seq, pos) at maps.seq(seq)(pos) * row_stride (seq_stride unused)
};

// One launch after a step's q|k|v projection (see elementwise.h rope_qk): RoPE of n_q_heads
// heads of q and n_k_heads heads of k in place, minus k_mean [n_k_heads * head_dim] (optional)
// from k after its rotation, the new k rows scattered into k_cache (dst null: not written; its
// src is the rotated k) and the rows of v_cache.src into v_cache (dst null: not written).
struct RopeQkArgs {
  float* q = nullptr;
  int64_t ldq = 0;
  int n_q_heads = 0;
  float* k = nullptr;
  int64_t ldk = 0;
  int n_k_heads = 0;
  const float* k_mean = nullptr;
  int64_t rows = 0;
  int head_dim = 0;
  const int* positions = nullptr;  // [rows] device
  const float* inv_freq = nullptr;  // [head_dim / 2] device
  bool half_split = false;
  CacheWriteParams k_cache, v_cache;
};
cudaError_t launch_rope_qk(const RopeQkArgs& a, cudaStream_t stream);

cudaError_t launch_embedding(const void* table, DType type, int64_t d, const int* tokens, int64_t n, float* out,
                             int64_t ldo, cudaStream_t stream);
cudaError_t launch_rmsnorm(const float* x, const float* weight, float* y, int64_t rows, int64_t cols, int64_t ld,
                           float eps, cudaStream_t stream);
cudaError_t launch_rope(float* x, int64_t rows, int64_t ld, int n_heads, int head_dim, const int* positions,
                        const float* inv_freq, bool half_split, bool inverse, cudaStream_t stream);
cudaError_t launch_swiglu_pairs(const float* in, int64_t ld_in, float* out, int64_t ld_out, int64_t rows,
                                int64_t cols, cudaStream_t stream);
cudaError_t launch_swiglu(const float* gate, const float* up, float* out, int64_t rows, int64_t cols, int64_t ld,
                          cudaStream_t stream);
cudaError_t launch_add_row_vector(float* y, int64_t ld, int64_t rows, int64_t cols, const float* v, float alpha,
                                  cudaStream_t stream);
cudaError_t launch_convert_rows(const float* src, int64_t ld_src, void* dst, DType type, int64_t ld_dst,
                                int64_t rows, int64_t cols, cudaStream_t stream);
// dst rows [0, rows) = hi = round(src), rows [rows, 2 rows) = lo = round(src - hi) (row stride cols).
cudaError_t launch_split_rows(const float* src, int64_t ld_src, void* dst, DType type, int64_t rows, int64_t cols,
                              cudaStream_t stream);
// y[r, c] = (accumulate ? y[r, c] : 0) + y2[r, c] + y2[rows + r, c]  (y2 row stride cols).
cudaError_t launch_add_halves(const float* y2, int64_t rows, int64_t cols, float* y, int64_t ldy, bool accumulate,
                              cudaStream_t stream);
// n (1 or 2) scatters in one launch.
cudaError_t launch_cache_write(const CacheWriteParams* p, int n, cudaStream_t stream);

}  // namespace lrkv::cuda
