// skinny_matmul's maths (skinny_matmul.h) with W streamed through shared memory by a persistent
// grid: an experiment against the ramp and tail each skinny_matmul launch loses (5-8 us per
// projection of an 8B decode step, bench/CUDA_NOTES.md part 10). Opt-in (SkinnyMatmulArgs::
// kernel = 1 or LRKV_SKINNY_STREAM=1) until it is measured on a GPU.
//
// Grid: one CTA per multiprocessor (fewer for short W), CTA c owns rows [c n / G, (c + 1) n / G),
// so every CTA streams the same bytes to within one row. A CTA walks its rows in groups of 8 (one
// per warp) and each group's K in tiles of kTileCols columns: tile = 8 rows x kTileCols weights =
// 16 KB, copied with 16-byte cp.async by all 256 threads into a ring of kStages tiles. kStages - 1
// tiles are in flight; the first ones are requested before waiting for the kernel that writes x
// (programmatic dependent launch), so the copies overlap the previous kernel's tail. Warp w reads
// row w of each tile (lane: 4 pieces of 16 bytes) against x from the read-only cache, keeps f32
// partial sums across the group's tiles and writes its row's m results after the last tile.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/skinny_common.cuh"
#include "kernels/cuda/skinny_matmul_args.h"

namespace lrkv::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kGroupRows = kThreads / 32;  // rows of W per group: one per warp
constexpr int kPieces = 4;                 // 16-byte pieces per lane per row and tile
constexpr int kTileBytes = kGroupRows * 32 * kPieces * 16;  // 16 KB
constexpr int kStages = 6;                 // ring of tiles: 96 KB, 5 tiles (80 KB) in flight
static_assert(kTileBytes * kStages <= 100 * 1024, "two CTAs per SM (this and the next kernel's)");

template <class W, int M>
__global__ void __launch_bounds__(kThreads) stream_matmul_kernel(const __grid_constant__ SkinnyMatmulArgs a) {
  constexpr int E = 16 / sizeof(W);                  // weights per piece
  constexpr int kTileCols = 32 * kPieces * E;        // columns of one row per tile
  constexpr int kRowPieces = 32 * kPieces;           // pieces of one row per tile
  extern __shared__ uint4 ring[];                    // [kStages][kGroupRows][kRowPieces]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t r0 = int64_t{blockIdx.x} * a.n_rows / gridDim.x, r1 = int64_t{blockIdx.x + 1} * a.n_rows / gridDim.x;
  const int64_t k_tiles = (a.k + kTileCols - 1) / kTileCols;
  const int64_t n_tiles = (r1 - r0 + kGroupRows - 1) / kGroupRows * k_tiles;
  const W* w = static_cast<const W*>(a.w);
  const auto slot = [&](int64_t i) { return ring + (i % kStages) * (kGroupRows * kRowPieces); };  // of tile i
  // Tile i (group i / k_tiles, K tile i % k_tiles) into its slot; rows past r1 and columns past k
  // are zero-filled (k is a multiple of 8, so a piece is all in or all out).
  const auto issue = [&](int64_t i) {
    if (i < n_tiles) {
      const int64_t g = i / k_tiles, col0 = (i - g * k_tiles) * kTileCols;
      uint4* dst = slot(i);
      for (int p = threadIdx.x; p < kGroupRows * kRowPieces; p += kThreads) {
        const int r = p / kRowPieces, c = p - r * kRowPieces;
        const int64_t row = r0 + g * kGroupRows + r, col = col0 + int64_t{c} * E;
        const bool in = row < r1 && col < a.k;
        dev::cp_async_16<true>(dst + p, in ? w + row * a.ldw + col : w, in ? 16 : 0);
      }
    }
    dev::cp_async_commit();  // (an empty group past the end keeps the wait counts uniform)
  };
  dev::pdl_trigger();
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) issue(i);  // weights only: before waiting for x
  dev::pdl_wait();
  float acc[M];
#pragma unroll
  for (int t = 0; t < M; ++t) acc[t] = 0.0f;
  for (int64_t i = 0; i < n_tiles; ++i) {
    dev::cp_async_wait<kStages - 2>();  // tile i has landed (this thread's copies)
    __syncthreads();                    // ... and everyone's; slot (i - 1) % kStages is free
    issue(i + kStages - 1);
    const int64_t g = i / k_tiles, kt = i - g * k_tiles, row = r0 + g * kGroupRows + warp;
    if (row < r1) {
      const uint4* src = slot(i) + warp * kRowPieces;
#pragma unroll
      for (int u = 0; u < kPieces; ++u) {
        const int64_t col = kt * kTileCols + int64_t{lane + 32 * u} * E;
        if (col >= a.k) break;
        float wf[E];
        dev::unpack16(src[lane + 32 * u], w, wf);
#pragma unroll
        for (int t = 0; t < M; ++t) {
          const float4* xp = reinterpret_cast<const float4*>(a.x + t * a.ldx + col);
#pragma unroll
          for (int e4 = 0; e4 < E / 4; ++e4) {
            acc[t] = dev::fma4(__ldg(xp + e4), wf + 4 * e4, acc[t]);
          }
        }
      }
      if (kt == k_tiles - 1) {  // the row is complete: reduce over the warp, lane 0 writes
#pragma unroll
        for (int t = 0; t < M; ++t) acc[t] = dev::warp_sum(acc[t]);
        if (lane == 0) dev::store_results<M>(a, row, acc);
#pragma unroll
        for (int t = 0; t < M; ++t) acc[t] = 0.0f;
      }
    }
  }
  dev::cp_async_wait<0>();  // no copy outlives the CTA
}

template <class W, int M>
cudaError_t launch_m(const SkinnyMatmulArgs& a, int multiprocessors, cudaStream_t stream) {
  constexpr size_t kSmem = size_t{kTileBytes} * kStages;
  static const cudaError_t attr = cudaFuncSetAttribute(stream_matmul_kernel<W, M>,
                                                       cudaFuncAttributeMaxDynamicSharedMemorySize, int{kSmem});
  if (attr != cudaSuccess) return attr;
  const int64_t groups = (a.n_rows + kGroupRows - 1) / kGroupRows;
  const unsigned blocks = static_cast<unsigned>(groups < multiprocessors ? groups : multiprocessors);
  return launch_pdl(stream_matmul_kernel<W, M>, blocks, kThreads, kSmem, stream, a);
}

}  // namespace

cudaError_t launch_stream_matmul(const SkinnyMatmulArgs& a, int multiprocessors, cudaStream_t stream) {
  return dev::dispatch_skinny(a.w_type, a.m,
                              [&]<class W, int M>() { return launch_m<W, M>(a, multiprocessors, stream); });
}

}  // namespace lrkv::cuda
