// The TMA form of CpAsyncPipeline (pipeline.cuh), sm_90 and newer: tiles of cached rows arrive
// through cp.async.bulk, one bulk copy per row segment, and each stage's mbarrier counts the bytes
// that landed. The copies are handed to the TMA unit instead of the load/store units' cp.async
// queue, so the number of bytes a multiprocessor keeps in flight is bounded by the stages, not by
// per-thread request slots. Same interface and ordering as CpAsyncPipeline:
//   BulkPipeline pipe{...}; pipe.init();            // thread 0 initialises, the caller syncs
//   pipe.prime(load);
//   for (int it = 0; it < n_tiles; ++it) {
//     const int stage = pipe.advance(it, load);     // tile it has landed in `stage`
//     ...compute on `stage`...
//   }
//   pipe.drain();
// load(tile, bar) issues the tile's bulk copies on mbarrier `bar`, whose expected byte count
// (tile_bytes) thread 0 has already declared: the declaration precedes a CTA barrier that
// precedes every copy of the tile.
#pragma once

#include <cstdint>

#include <cuda/ptx>

#include "kernels/cuda/device_utils.cuh"

namespace lrkv::cuda::dev {

// Bulk copy of `bytes` (a multiple of 16; src and dst 16-byte aligned) into shared memory,
// completing `bytes` of transactions on mbarrier `bar`.
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  ::cuda::ptx::cp_async_bulk(::cuda::ptx::space_cluster, ::cuda::ptx::space_global, dst, src, bytes, bar);
#else
  __trap();  // the host launches the bulk kernels on compute capability >= 9.0 only
#endif
}

template <int kMaxStages>
struct BulkPipeline {
  static_assert(kMaxStages >= 2, "a pipeline has at least two stages");
  int stages;       // 2 .. kMaxStages
  int n_tiles;
  int rows;         // cached rows the CTA reads (tiles of kRows, the last one partial)
  int row_bytes;    // bytes one cached row brings (all its segments)
  uint64_t* bars;   // [kMaxStages] mbarriers in shared memory

  static constexpr int kRows = 64;

  __device__ __forceinline__ int stage(int tile) const { return tile % stages; }

  // Bytes tile `tile` brings: its rows (kRows, or what is left) times row_bytes.
  __device__ __forceinline__ uint32_t tile_bytes(int tile) const {
    const int left = rows - tile * kRows;
    return static_cast<uint32_t>(min(left, kRows) * row_bytes);
  }

  // Thread 0 initialises one mbarrier per stage (one arrival: thread 0's expect_tx per phase).
  // The caller syncs the CTA before prime().
  __device__ __forceinline__ void init() const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (threadIdx.x == 0) {
      for (int s = 0; s < stages; ++s) ::cuda::ptx::mbarrier_init(bars + s, 1);
      ::cuda::ptx::fence_mbarrier_init(::cuda::ptx::sem_release, ::cuda::ptx::scope_cluster);
    }
#else
    __trap();
#endif
  }

  __device__ __forceinline__ void expect(int tile) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    ::cuda::ptx::mbarrier_arrive_expect_tx(::cuda::ptx::sem_release, ::cuda::ptx::scope_cta, ::cuda::ptx::space_shared,
                                         bars + stage(tile), tile_bytes(tile));
#endif
  }

  // Waits until tile `tile` has landed: phase (tile / stages) of its stage's barrier.
  __device__ __forceinline__ void wait(int tile) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const uint32_t parity = static_cast<uint32_t>(tile / stages) & 1u;
    while (!::cuda::ptx::mbarrier_try_wait_parity(bars + stage(tile), parity)) {
    }
#endif
  }

  // Issues tiles 0 .. stages - 2.
  template <class Load>
  __device__ __forceinline__ void prime(Load&& load) const {
    const int n = min(stages - 1, n_tiles);
    if (threadIdx.x == 0) {
      for (int s = 0; s < n; ++s) expect(s);
    }
    __syncthreads();
    for (int s = 0; s < n; ++s) load(s, bars + stage(s));
  }

  // Start of tile it: waits for it to land, declares tile it + stages - 1 (thread 0; its stage's
  // previous phase, tile it - 1, completed before this thread's previous wait returned), syncs
  // (every warp is done with stage (it - 1) % stages), issues it and returns it % stages.
  template <class Load>
  __device__ __forceinline__ int advance(int it, Load&& load) const {
    wait(it);
    const int next = it + stages - 1;
    if (threadIdx.x == 0 && next < n_tiles) expect(next);
    __syncthreads();
    if (next < n_tiles) load(next, bars + stage(next));
    return stage(it);
  }

  // After the last tile (every issued tile was waited for): the stages may be reused.
  __device__ __forceinline__ void drain() const { __syncthreads(); }
};

}  // namespace lrkv::cuda::dev
