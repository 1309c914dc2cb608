// Row-loader policies: copy a tile of cached rows (one segment of each row) into shared memory
// as 16-bit values, zero-filling rows past the end and columns past the segment up to the
// kernel's padded width R. The attention kernels are templated on the loader, so a loader that
// dequantises packed latents (per-token group scales) slots in with the same interface:
//   static constexpr bool kAsync;  // true: cp.async, completed by the kernel's wait/commit
//   template <class T, int R, int kRows, int kThreads>
//   static void load(T* dst, int ld_dst, const void* rows, RowMap map, int64_t ld, int off, int len,
//                    int j0, int j_end, int tid, bool contiguous);
// Tile row i is cache row j = j0 + i (valid when < j_end), read at rows + map(j) * ld: `rows` is
// row 0 of the sequence (contiguous map) or of the paged storage (kernels/row_map.h).
#pragma once

#include <cstdint>

#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/tile_swizzle.cuh"
#include "kernels/row_map.h"

namespace lrkv::cuda::dev {

// 16-byte cp.async per 8 values. Needs rows, ld and off such that every segment start is
// 16-byte aligned (checked by the host planner); len may be any value. `contiguous` (ld == len:
// the segment's rows follow each other) selects 256-byte L2 prefetch, else 128-byte.
// kSwizzle: the tile is written in the unpadded swizzled layout of tile_swizzle.cuh (ld_dst
// ignored; R a multiple of 64), else in rows of ld_dst values.
template <bool kSwizzleTile>
struct AsyncRowLoader16T {
  static constexpr bool kAsync = true;
  static constexpr bool kBulk = false;
  static constexpr bool kSwizzle = kSwizzleTile;
  template <class T, int R, int kRows, int kThreads>
  __device__ __forceinline__ static void load(T* dst, int ld_dst, const void* rows, RowMap map, int64_t ld, int off,
                                              int len, int j0, int j_end, int tid, bool contiguous) {
    // The table test once per tile: contiguous rows keep the loop without it (measured: the
    // per-row test cost the dense decode kernel 7% at 32K).
    if (map.table != nullptr) {
      copy<T, R, kRows, kThreads, false, true>(dst, ld_dst, rows, map, ld, off, len, j0, j_end, tid);
    } else if (contiguous) {
      copy<T, R, kRows, kThreads, true, false>(dst, ld_dst, rows, map, ld, off, len, j0, j_end, tid);
    } else {
      copy<T, R, kRows, kThreads, false, false>(dst, ld_dst, rows, map, ld, off, len, j0, j_end, tid);
    }
  }
  template <class T, int R, int kRows, int kThreads, bool kPrefetch256, bool kPaged>
  __device__ __forceinline__ static void copy(T* dst, int ld_dst, const void* rows, RowMap map, int64_t ld, int off,
                                              int len, int j0, int j_end, int tid) {
    constexpr int kChunks = R / 8;
    const T* src = static_cast<const T*>(rows);
    if constexpr (kSwizzle && kThreads % kChunks == 0 && (kThreads / kChunks) % 8 == 0) {
      // Thread tid copies chunk c of rows r0, r0 + kRowStep, ...: one swizzled column (r & 7 fixed).
      constexpr int kRowStep = kThreads / kChunks;
      const int r0 = tid / kChunks, c = tid % kChunks, col = c * 8;
      int bytes = (len - col) * 2;
      bytes = bytes < 0 ? 0 : (bytes > 16 ? 16 : bytes);
      T* d = dst + tile_chunk<true, R>(r0, c, ld_dst);
#pragma unroll
      for (int r = r0; r < kRows; r += kRowStep, d += kRowStep * R) {
        const int j = j0 + r;
        const int b = j < j_end ? bytes : 0;
        const T* g = b > 0 ? src + (kPaged ? map(j) : j) * ld + off + col : src;
        cp_async_16<kPrefetch256>(d, g, b);
      }
    } else {
#pragma unroll
      for (int i = tid; i < kRows * kChunks; i += kThreads) {
        const int r = i / kChunks, col = (i % kChunks) * 8;
        const int j = j0 + r;
        int bytes = (len - col) * 2;
        bytes = bytes < 0 ? 0 : (bytes > 16 ? 16 : bytes);
        if (j >= j_end) bytes = 0;
        const T* g = bytes > 0 ? src + (kPaged ? map(j) : j) * ld + off + col : src;
        cp_async_16<kPrefetch256>(dst + tile_chunk<kSwizzle, R>(r, col / 8, ld_dst), g, bytes);
      }
    }
  }
};

using AsyncRowLoader16 = AsyncRowLoader16T<false>;
using SwizzledRowLoader16 = AsyncRowLoader16T<true>;

// Plain 2-byte loads for segments that are not 16-byte aligned (any offset, stride, length).
struct ScalarRowLoader {
  static constexpr bool kAsync = false;
  static constexpr bool kBulk = false;
  static constexpr bool kSwizzle = false;
  template <class T, int R, int kRows, int kThreads>
  __device__ __forceinline__ static void load(T* dst, int ld_dst, const void* rows, RowMap map, int64_t ld, int off,
                                              int len, int j0, int j_end, int tid, bool /*contiguous*/) {
    const uint16_t* src = static_cast<const uint16_t*>(rows);
    uint16_t* d = reinterpret_cast<uint16_t*>(dst);
    for (int i = tid; i < kRows * R; i += kThreads) {
      const int r = i / R, col = i % R;
      const int j = j0 + r;
      uint16_t x = 0;
      if (j < j_end && col < len) x = src[map(j) * ld + off + col];
      d[r * ld_dst + col] = x;
    }
  }
};

// Whole-segment bulk copies (cp.async.bulk, sm_90; bulk_pipeline.cuh): the kernel's tile threads
// copy one row segment each, so it has no per-thread load(). Needs what AsyncRowLoader16 needs
// plus segment lengths that are multiples of 8 values (16 bytes); the host checks.
struct BulkRowLoader {
  static constexpr bool kAsync = true;
  static constexpr bool kBulk = true;
  static constexpr bool kSwizzle = false;
};

// Host side: calls op.template operator()<T, Loader>() with the 16-bit element type (f16:
// __half, else __nv_bfloat16) and the row loader (vec_loads: AsyncRowLoader16, else
// ScalarRowLoader) a launcher was asked for; the one place those two flags become template
// arguments.
template <class Op>
auto with_row_types(bool f16, bool vec_loads, Op&& op) {
  if (f16) {
    return vec_loads ? op.template operator()<__half, AsyncRowLoader16>()
                     : op.template operator()<__half, ScalarRowLoader>();
  }
  return vec_loads ? op.template operator()<__nv_bfloat16, AsyncRowLoader16>()
                   : op.template operator()<__nv_bfloat16, ScalarRowLoader>();
}

}  // namespace lrkv::cuda::dev
