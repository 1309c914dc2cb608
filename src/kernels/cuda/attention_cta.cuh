// CTA-level pieces shared by the split-K attention kernels (latent and rebuild-keys): the
// 16 rows of a CTA, query staging into shared memory, and the epilogue that merges the four
// warps' softmax states and writes either z or the split's partial result.
#pragma once

#include "kernels/cuda/online_softmax.cuh"
#include "kernels/cuda/split_attention_args.h"

namespace lrkv::cuda::dev {

// Query t and head of CTA row r (rows beyond n_q * n_heads have t >= n_q).
__device__ __forceinline__ void cta_row(const ClusterDesc& cl, int rt, int r, int* t, int* head) {
  const int gi = rt * kRowsPerCta + r;
  *t = gi / cl.n_heads;
  *head = cl.head0 + gi % cl.n_heads;
}

// The CTA's place in the grid: split of the cached rows (blockIdx.x), head cluster and 16-row
// tile of it (blockIdx.y), sequence (blockIdx.z).
struct CtaPos {
  int split, seq, rt;
  const ClusterDesc* cl;
};
__device__ __forceinline__ CtaPos cta_pos(const SplitAttentionArgs& a) {
  return CtaPos{static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.z),
                static_cast<int>(blockIdx.y) % a.n_row_tiles, &a.clusters[blockIdx.y / a.n_row_tiles]};
}

// End of the cached rows the split starting at jb covers: its chunk, cut at the longest row's
// end (row_end_s loaded and synced). jb >= the result: nothing to attend (cta_empty).
__device__ __forceinline__ int split_end(const SplitAttentionArgs& a, const int* row_end_s, int jb) {
  int max_end = 0;
#pragma unroll
  for (int r = 0; r < kRowsPerCta; ++r) max_end = max(max_end, row_end_s[r]);
  return min(jb + a.chunk, max_end);
}

// Whether the split's first tiles, rows [jb, min(je, jb + rows)), may be copied before the wait
// for the preceding kernel (programmatic dependent launch): a.early_rows says every row below the
// sequence's first query position was written before this step, and these rows all are.
__device__ __forceinline__ bool early_tiles(const SplitAttentionArgs& a, int seq, int jb, int je, int rows) {
  return a.early_rows != 0 && min(je, jb + rows) <= a.q_pos[static_cast<int64_t>(seq) * a.n_q];
}

// row_end_s[r] = q_pos + 1 of row r (0 for padding rows). Call from all threads; syncs.
__device__ __forceinline__ void load_row_ends(const SplitAttentionArgs& a, const ClusterDesc& cl, int seq, int rt,
                                              int* row_end_s) {
  if (threadIdx.x < kRowsPerCta) {
    int t, head;
    cta_row(cl, rt, threadIdx.x, &t, &head);
    row_end_s[threadIdx.x] = t < a.n_q ? a.q_pos[static_cast<int64_t>(seq) * a.n_q + t] + 1 : 0;
  }
}

// q_hi[r, c] + q_lo[r, c] = q[row r][c] * qscale (hi rounded to T, lo the rounded remainder) for
// c < len, 0 elsewhere (W columns, row stride ldq): scores from both halves keep the query
// f32-accurate while the cached rows stay 16-bit.
template <class T, int W>
__device__ __forceinline__ void stage_queries(const SplitAttentionArgs& a, const ClusterDesc& cl, int seq, int rt,
                                              int len, T* q_hi, T* q_lo, int ldq) {
  for (int i = threadIdx.x; i < kRowsPerCta * W; i += kCtaThreads) {
    const int r = i / W, c = i % W;
    int t, head;
    cta_row(cl, rt, r, &t, &head);
    float x = 0.0f;
    if (t < a.n_q && c < len) {
      x = a.q[static_cast<int64_t>(seq) * a.q_seq + static_cast<int64_t>(t) * a.ldq + a.qk_off[head] + c] * a.qscale;
    }
    const T hi = Elem<T>::from_float(x);
    q_hi[r * ldq + c] = hi;
    q_lo[r * ldq + c] = Elem<T>::from_float(x - Elem<T>::to_float(hi));
  }
}

// Smallest visible-row limit over the CTA's real rows (padding rows excluded: their zero queries
// give finite scores that are never written). Slices below it need no mask.
__device__ __forceinline__ int cta_min_limit(const int* row_end_s, int je) {
  int lim = je;
#pragma unroll
  for (int r = 0; r < kRowsPerCta; ++r) {
    if (row_end_s[r] > 0) lim = min(lim, row_end_s[r]);
  }
  return lim;
}

// Cached rows j0 .. j0 + kTokenTile - 1 (those below j_end; zeros past it and past each segment)
// of the cluster's key segment into k_dst and value segment into v_dst, row stride ld_dst, with
// the kernel's row loader (row_loader.cuh); krows / vrows: row 0 of the sequence (seq_rows).
template <class Loader, class T, int R>
__device__ __forceinline__ void load_kv_tile(const SplitAttentionArgs& a, const ClusterDesc& cl, const void* krows,
                                             const void* vrows, RowMap map, T* k_dst, T* v_dst, int ld_dst, int j0,
                                             int j_end) {
  Loader::template load<T, R, kTokenTile, kCtaThreads>(k_dst, ld_dst, krows, map, a.ldk, cl.k_off, cl.k_len, j0, j_end,
                                                       threadIdx.x, a.k_contiguous != 0);
  Loader::template load<T, R, kTokenTile, kCtaThreads>(v_dst, ld_dst, vrows, map, a.ldv, cl.v_off, cl.v_len, j0, j_end,
                                                       threadIdx.x, a.v_contiguous != 0);
}

// Row 0 of sequence `seq`'s cached rows (`base` + seq * seq_stride elements of T; paged caches:
// the storage's row 0, rows found through a.maps).
template <class T>
__device__ __forceinline__ const T* seq_rows(const SplitAttentionArgs& a, const void* base, int64_t seq_stride,
                                             int seq) {
  return static_cast<const T*>(base) + (a.maps.paged() ? 0 : static_cast<int64_t>(seq) * seq_stride);
}

// A CTA whose chunk holds no visible row: an empty partial state for the merge.
__device__ __forceinline__ void cta_empty(const SplitAttentionArgs& a, int seq, int split) {
  if (a.n_splits > 1 && threadIdx.x < kRowsPerCta) {
    const size_t wsi = (static_cast<size_t>(seq) * gridDim.y + blockIdx.y) * a.n_splits + split;
    a.ws_ml[wsi * 2 * kRowsPerCta + 2 * threadIdx.x] = -INFINITY;
    a.ws_ml[wsi * 2 * kRowsPerCta + 2 * threadIdx.x + 1] = 0.0f;
  }
}

// Merges the 4 warps' accumulators through shared memory (smem: >= 4*16*(R+4) floats, free to
// reuse) and writes z (single split) or the split's partial O and (m, l) to the workspace, for
// the CTA's real rows (padding rows: nothing).
// kVPerm: the accumulator tiles hold permuted value columns (quantized kernel, values decoded
// straight into mma fragments): tile i, C column n is value column 64 (i / 8) + 8 n + i % 8.
template <class T, int R, bool kVPerm = false>
__device__ __forceinline__ void cta_epilogue(const SplitAttentionArgs& a, const ClusterDesc& cl, int seq, int split,
                                             int rt, WarpAttention<T, R>& acc, void* smem, const int* row_end_s) {
  constexpr int kLd = R + 4;
  __shared__ float ml_s[4][kRowsPerCta][2];
  float* o_s = static_cast<float*>(smem);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  acc.finish();
  float* ow = o_s + warp * kRowsPerCta * kLd;
#pragma unroll
  for (int i = 0; i < R / 8; ++i) {
    const int c0 = kVPerm ? (i >> 3) * 64 + 16 * t + (i & 7) : i * 8 + 2 * t;
    const int c1 = kVPerm ? c0 + 8 : c0 + 1;
    ow[g * kLd + c0] = acc.o[i][0];
    ow[g * kLd + c1] = acc.o[i][1];
    ow[(g + 8) * kLd + c0] = acc.o[i][2];
    ow[(g + 8) * kLd + c1] = acc.o[i][3];
  }
  if (t == 0) {
    ml_s[warp][g][0] = acc.st[0].m;
    ml_s[warp][g][1] = acc.st[0].l;
    ml_s[warp][g + 8][0] = acc.st[1].m;
    ml_s[warp][g + 8][1] = acc.st[1].l;
  }
  __syncthreads();
  const size_t wsi = (static_cast<size_t>(seq) * gridDim.y + blockIdx.y) * a.n_splits + split;
  // Only the real rows (a prefix, see cta_row) are merged and written: the split merge reads no
  // other, and at b = 1 a GQA cluster fills 4 of the 16 rows (MHA: 1).
  const int rows = min(kRowsPerCta, a.n_q * cl.n_heads - rt * kRowsPerCta);
  for (int i = threadIdx.x; i < rows * R; i += kCtaThreads) {
    const int r = i / R, c = i % R;
    SoftmaxState s;
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const float2 f = s.merge(SoftmaxState{ml_s[w][r][0], ml_s[w][r][1]});
      o = o * f.x + o_s[(w * kRowsPerCta + r) * kLd + c] * f.y;
    }
    if (a.n_splits > 1) {
      a.ws_o[(wsi * kRowsPerCta + r) * R + c] = o;
      if (c == 0) {
        a.ws_ml[wsi * 2 * kRowsPerCta + 2 * r] = s.m;
        a.ws_ml[wsi * 2 * kRowsPerCta + 2 * r + 1] = s.l;
      }
    } else if (row_end_s[r] > 0 && c < cl.v_len) {
      int tq, head;
      cta_row(cl, rt, r, &tq, &head);
      a.z[static_cast<int64_t>(seq) * a.z_seq + static_cast<int64_t>(tq) * a.ldz + a.z_off[head] + c] = o / s.l;
    }
  }
}

}  // namespace lrkv::cuda::dev
