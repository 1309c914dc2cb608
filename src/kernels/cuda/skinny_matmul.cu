// skinny_matmul kernel (see skinny_matmul.h for the maths).
//
// Grid: one CTA per (kWarps / S) * kRowsPerWarp rows of W; kWarps warps in S-warp teams, each
// team owning kRowsPerWarp consecutive rows of W (2, or 4 for m > 4) and all m activation rows,
// the S warps of a team taking every S-th chunk of kUnroll * 32 * E columns (split-K inside the
// CTA, partial sums added through shared memory). S (1, 2 or 4) comes from auto_split below, or
// from SkinnyMatmulArgs::split.
// A lane reads 16 bytes of each of its rows (E = 16 / sizeof(W) weights) at columns
// lane * E + u * 32 * E (within its chunk) for kUnroll values of u before using them, so a warp
// keeps kRowsPerWarp * kUnroll * 512 bytes of W in flight; x is read through the read-only cache
// (every warp of the GPU reads the same m rows). Partial sums are reduced across the warp with
// shuffles; lane 0 writes the kRowsPerWarp * m results (with swiglu_pairs: silu(g) · u of each
// (gate, up) pair of rows; with rope: q and k pairs rotated, k and v also into the cache).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/skinny_common.cuh"
#include "kernels/cuda/skinny_matmul_args.h"

namespace lrkv::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kUnroll = 4;
// Rows of W per warp: each x value loaded from cache serves this many rows, so larger m (more x
// traffic per byte of W) takes more rows.
template <int M>
__host__ __device__ constexpr int rows_per_warp() { return M <= 4 ? 2 : 4; }
static_assert(rows_per_warp<1>() % 2 == 0 && rows_per_warp<8>() % 2 == 0, "swiglu_pairs: whole pairs per warp");

template <class W, int M, int S>
__global__ void __launch_bounds__(32 * kWarps) skinny_matmul_kernel(const __grid_constant__ SkinnyMatmulArgs a) {
  static_assert(kWarps % S == 0, "S warps per team");
  constexpr int E = 16 / sizeof(W);  // weights per 16-byte load
  constexpr int kRowsPerWarp = rows_per_warp<M>();
  constexpr int kChunk = 32 * E * kUnroll;  // columns one warp loads per iteration
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, team = warp / S, part = warp % S;
  const int64_t j0 = (int64_t{blockIdx.x} * (kWarps / S) + team) * kRowsPerWarp;
  if (S == 1 && j0 >= a.n_rows) return;  // (S > 1: every warp reaches the barrier below)
  const W* w = static_cast<const W*>(a.w);
  float acc[kRowsPerWarp][M];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
    for (int t = 0; t < M; ++t) acc[r][t] = 0.0f;
  }
  // W is streamed once per step: evict-first loads keep x and the activations in cache.
  uint4 wv[kRowsPerWarp][kUnroll];
  const auto load_w = [&](int64_t i0) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t i = i0 + int64_t{u} * 32 * E, j = j0 + r;
        wv[r][u] = (i < a.k && j < a.n_rows) ? __ldcs(reinterpret_cast<const uint4*>(w + j * a.ldw + i))
                                             : make_uint4(0, 0, 0, 0);
      }
    }
  };
  // The first chunk of weights is requested before waiting for the kernel that writes x
  // (programmatic dependent launch, pdl.cuh): the weights do not depend on it.
  int64_t i0 = int64_t{part} * kChunk + int64_t{lane} * E;
  dev::pdl_trigger();
  load_w(i0);
  dev::pdl_wait();
  for (; i0 < a.k; i0 += int64_t{S} * kChunk) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = i0 + int64_t{u} * 32 * E;
      if (i >= a.k) break;
      float wf[kRowsPerWarp][E];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) dev::unpack16(wv[r][u], w, wf[r]);
#pragma unroll
      for (int t = 0; t < M; ++t) {
        const float4* xp = reinterpret_cast<const float4*>(a.x + t * a.ldx + i);
#pragma unroll
        for (int e4 = 0; e4 < E / 4; ++e4) {
          const float4 xv = __ldg(xp + e4);
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r) acc[r][t] = dev::fma4(xv, wf[r] + 4 * e4, acc[r][t]);
        }
      }
    }
    if (i0 + int64_t{S} * kChunk < a.k) load_w(i0 + int64_t{S} * kChunk);
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
    for (int t = 0; t < M; ++t) acc[r][t] = dev::warp_sum(acc[r][t]);
  }
  if constexpr (S > 1) {
    __shared__ float partial[kWarps][kRowsPerWarp][M];
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
        for (int t = 0; t < M; ++t) partial[warp][r][t] = acc[r][t];
      }
    }
    __syncthreads();
    if (part != 0 || j0 >= a.n_rows) return;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
      for (int t = 0; t < M; ++t) {
#pragma unroll
        for (int q = 1; q < S; ++q) acc[r][t] += partial[warp + q][r][t];
      }
    }
  }
  if (lane != 0) return;
  if (a.rope.positions != nullptr) {  // pairs again: q and k heads start at even rows
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r += 2) {
      if (j0 + r >= a.n_rows) break;
      dev::store_rope<M>(a, j0 + r, acc[r], acc[r + 1]);
    }
    return;
  }
  if (a.swiglu_pairs) {  // j0 and kRowsPerWarp are even: a warp holds whole pairs
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r += 2) {
      if (j0 + r >= a.n_rows) break;
      dev::store_swiglu<M>(a, j0 + r, acc[r], acc[r + 1]);
    }
    return;
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (j0 + r >= a.n_rows) break;
    dev::store_results<M>(a, j0 + r, acc[r]);
  }
}

// Split K four ways when W has fewer than 8 row teams per multiprocessor (and a chunk for each of
// the four warps), else two ways. Measured in CUDA-graph decode steps (H200, 8B shape, b = 1,
// bench/CUDA_NOTES.md part 10), where the kernels' ramps and tails overlap their neighbours' under
// programmatic dependent launch: S = 2 for the large projections gave dense decode +4% at 4K over
// the isolated-kernel choice (S = 4 below 32 teams per SM, else 1), and S = 4 keeps the few-row
// latent factors' warps busy.
int auto_split(int64_t teams, int64_t k, int chunk, int multiprocessors) {
  if (teams < int64_t{8} * multiprocessors && k >= int64_t{4} * chunk) return 4;
  return k >= int64_t{2} * chunk ? 2 : 1;
}

template <class W, int M>
cudaError_t launch_m(const SkinnyMatmulArgs& a, int multiprocessors, cudaStream_t stream) {
  constexpr int kRows = rows_per_warp<M>();
  constexpr int kChunk = 32 * (16 / static_cast<int>(sizeof(W))) * kUnroll;
  const int64_t teams = (a.n_rows + kRows - 1) / kRows;
  const int split = a.split != 0 ? a.split : auto_split(teams, a.k, kChunk, multiprocessors);
  const auto blocks = [&](int s) { return static_cast<unsigned>((teams + kWarps / s - 1) / (kWarps / s)); };
  switch (split) {
    case 4: return launch_pdl(skinny_matmul_kernel<W, M, 4>, blocks(4), 32 * kWarps, 0, stream, a);
    case 2: return launch_pdl(skinny_matmul_kernel<W, M, 2>, blocks(2), 32 * kWarps, 0, stream, a);
    default: return launch_pdl(skinny_matmul_kernel<W, M, 1>, blocks(1), 32 * kWarps, 0, stream, a);
  }
}

}  // namespace

cudaError_t launch_skinny_matmul(const SkinnyMatmulArgs& a, int multiprocessors, cudaStream_t stream) {
  return dev::dispatch_skinny(a.w_type, a.m,
                              [&]<class W, int M>() { return launch_m<W, M>(a, multiprocessors, stream); });
}

}  // namespace lrkv::cuda
