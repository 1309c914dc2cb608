// Row-wise operations of the forward pass on the GPU, with the CPU kernels' Params structs where
// they exist (device pointers everywhere; positions and inverse frequencies too). All f32 except
// the 16-bit tables/outputs named. Asynchronous on `stream`; errors only for bad launches/shapes.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace lrkv::cuda {

// out[t, :d] = table[tokens[t], :d] (table f32/f16/bf16, [n_vocab, d] row-major).
struct EmbeddingParams {
  const void* table = nullptr;
  DType type = DType::kF32;
  int64_t d = 0;
  const int* tokens = nullptr;  // [n]
  int64_t n = 0;
  float* out = nullptr;         // [n, ldo]
  int64_t ldo = 0;
};

Status embedding(const EmbeddingParams& p, cudaStream_t stream);
// Llama RMSNorm, one block per row (y may alias x).
Status rmsnorm(const RmsNormParams& p, cudaStream_t stream);
Status swiglu(const SwigluParams& p, cudaStream_t stream);
// out[r, j] = silu(in[r, 2j]) · in[r, 2j + 1], j < cols: the SwiGLU of interleaved (gate, up)
// columns (a GEMM over W_gate and W_up interleaved row by row), in [rows, ld_in], out [rows, ld_out].
Status swiglu_pairs(const float* in, int64_t ld_in, float* out, int64_t ld_out, int64_t rows, int64_t cols,
                    cudaStream_t stream);
// y[r, :cols] += alpha * v[:cols] for every row (a bias, or minus a mean).
Status add_row_vector(float* y, int64_t ld, int64_t rows, int64_t cols, const float* v, float alpha,
                      cudaStream_t stream);
// dst[r, :cols] = src[r, :cols] converted to `type` (f16/bf16/f32).
Status convert_rows(const float* src, int64_t ld_src, void* dst, DType type, int64_t ld_dst, int64_t rows,
                    int64_t cols, cudaStream_t stream);

// Scatter of new K or V rows into a device cache (CacheWriteParams in elementwise_kernels.h).
// Row r (sequence seq[r], position pos[r]) of src [rows, width] goes to dst + seq * seq_stride +
// pos * row_stride, split into segments of `seg` columns, segment i at i * seg_stride: seg =
// width, seg_stride = 0 for token rows ([token][width]); seg = head_dim, seg_stride = capacity *
// head_dim for head-major caches ([kv head][token][head_dim]). Paged caches (p.maps.paged()):
// row (seq, pos) at dst + maps.seq(seq)(pos) * row_stride (seg_stride = storage rows * head_dim).
Status cache_write(const CacheWriteParams& p, cudaStream_t stream);
// The checks cache_write makes (a float type, seg > 0), for kernels that scatter rows themselves.
Status check_cache_write(const CacheWriteParams& p);
// Two scatters (a key and a value side) in one launch.
Status cache_write(const CacheWriteParams& a, const CacheWriteParams& b, cudaStream_t stream);

// What follows the q|k|v projection of a step, in one launch (the decode step's small kernels
// cost launches, not bytes):
//   q[r, h] <- RoPE(q[r, h], pos[r])                      heads h < q.n_heads
//   k[r, g] <- RoPE(k[r, g], pos[r]) - k_mean[g]          heads g < k.n_heads (k_mean optional)
//   k_cache <- the rotated k rows, v_cache <- its src rows (each only where its dst is set; the
//   k side's src/ld_src are not read).
// q and k share rows, positions, inverse frequencies and layout (k.n_heads may be 0: q only);
// inverse RoPE is not offered. In place on q and k; angles reduced exactly (device_utils.cuh
// rope_sincos).
struct RopeQkParams {
  RopeParams q, k;
  const float* k_mean = nullptr;  // [k.n_heads * head_dim] device
  CacheWriteParams k_cache, v_cache;
};
Status rope_qk(const RopeQkParams& p, cudaStream_t stream);

}  // namespace lrkv::cuda
