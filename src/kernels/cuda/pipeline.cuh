// The cp.async tile pipeline of the split-K attention kernels (latent, rebuild-keys, quantized
// latent and quantized fragment): a CTA streams its tiles of cached rows through `depth`
// shared-memory stages, tile i in stage i % depth, loading depth - 1 tiles ahead of the one it
// computes on. The kernels supply the per-tile load (cp.async into the tile's stage) and compute.
#pragma once

#include "kernels/cuda/device_utils.cuh"

namespace lrkv::cuda::dev {

// Waits until at most depth - 2 commit groups are pending (the oldest tile has landed), for a
// runtime depth in [kMinStages, kMaxStages]; a single compile-time wait when the two are equal.
template <int kMinStages, int kMaxStages>
__device__ __forceinline__ void cp_async_wait_oldest(int depth) {
  if constexpr (kMinStages == kMaxStages) {
    cp_async_wait<kMaxStages - 2>();
  } else if (depth == kMaxStages) {
    cp_async_wait<kMaxStages - 2>();
  } else {
    cp_async_wait_oldest<kMinStages, kMaxStages - 1>(depth);
  }
}

// A pipeline `stages` deep (kMinStages <= stages <= kMaxStages; compile-time when they are
// equal) over n_tiles tiles. Every thread of the CTA runs
//   pipe.prime(load);
//   for (int it = 0; it < n_tiles; ++it) {
//     const int stage = pipe.advance(it, load);
//     ...compute on `stage`...
//   }
//   pipe.drain();
// prime() and advance() commit one group per tile slot (empty past n_tiles), so the group count,
// and with it the wait depth, is the same on every path; advance() and drain() sync the CTA. The
// compute stays in the kernel's own loop body: passed as a callback, it changed ptxas's register
// allocation of the quantized kernels.
template <int kMinStages, int kMaxStages>
struct CpAsyncPipeline {
  static_assert(2 <= kMinStages && kMinStages <= kMaxStages, "a pipeline has at least two stages");
  int stages;
  int n_tiles;

  __device__ __forceinline__ int depth() const {
    return kMinStages == kMaxStages ? kMaxStages : stages;
  }

  // tile % depth; without a runtime division when the depth is at most 4 (once per tile beyond).
  __device__ __forceinline__ int stage(int tile) const {
    if constexpr (kMinStages == kMaxStages) return tile % kMaxStages;
    const int d = depth();
    if constexpr (kMaxStages > 4) return tile % d;
    return d == 3 ? tile % 3 : tile & (d - 1);
  }

  // Issues tiles 0 .. depth - 2: load(tile) puts tile `tile` into stage(tile).
  template <class Load>
  __device__ __forceinline__ void prime(Load&& load) const {
    if constexpr (kMinStages == kMaxStages) {
#pragma unroll
      for (int s = 0; s < kMaxStages - 1; ++s) {
        if (s < n_tiles) load(s);
        cp_async_commit();
      }
    } else {
      for (int s = 0; s < stages - 1; ++s) {
        if (s < n_tiles) load(s);
        cp_async_commit();
      }
    }
  }

  // Start of tile it (it = 0, 1, .. n_tiles - 1 in order): waits for it to land, syncs (every
  // warp is done with stage (it - 1) % depth), issues tile it + depth - 1 and returns it % depth,
  // the stage holding tile it. The kernel's loop body computes on that stage after the call.
  template <class Load>
  __device__ __forceinline__ int advance(int it, Load&& load) const {
    const int d = depth();
    cp_async_wait_oldest<kMinStages, kMaxStages>(d);
    __syncthreads();
    if (it + d - 1 < n_tiles) load(it + d - 1);
    cp_async_commit();
    return stage(it);
  }

  // After the last tile: waits for the outstanding (empty) groups and syncs, so the stages'
  // shared memory may be reused (the epilogue).
  __device__ __forceinline__ void drain() const {
    cp_async_wait<0>();
    __syncthreads();
  }
};

}  // namespace lrkv::cuda::dev
