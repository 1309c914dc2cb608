// Causal attention of a prefill chunk over cached rows (semantics of LatentAttentionParams,
// kernels/latent_attention.h; dense attention is the case of head_dim segments), the layout of
// flash-attention 2: a CTA owns kPrefillRows = 64 query rows of one head cluster, 16 per warp, and
// streams the cache rows 0 .. (its last row's position) through cp.async tiles of kTokenTile
// rows shared by all four warps. Each warp runs the online softmax of its own 16 rows over every
// 16-token slice of a tile (WarpAttention), skipping slices past its rows' ends, and writes its
// rows of z from registers: no split-K, no cross-warp merge.
//
// Against the split-K kernel (latent_attention.cu: 16 rows per CTA, warps split over tokens) a
// cached tile is read once per 64 rows instead of once per 16: 4x less L2 traffic and 4x fewer
// tile loads per mma. Row tiles are handed out last first (the longest, causally) so the short
// ones fill the tail of the wave.
//
// Shapes: R (padded segment width) in {64, 128, 256}; shared memory = 2 * 64 query rows (hi/lo
// halves) + 2 * stages * 64 cached rows, each R + 8 values of T.
#include "kernels/cuda/attention_cta.cuh"
#include "kernels/cuda/occupancy.h"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/pipeline.cuh"
#include "kernels/cuda/row_loader.cuh"
#include "kernels/cuda/split_attention_args.h"

namespace lrkv::cuda {
namespace {

constexpr int kPrefillStages = 2;

template <class T, int R>
constexpr size_t prefill_smem_bytes() {
  return sizeof(T) * (2 * kPrefillRows + 2 * kPrefillStages * kTokenTile) * size_t(R + 8);
}

// Query t and head of row r of 64-row tile rt (rows past the cluster's n_q * n_heads: t >= n_q).
__device__ __forceinline__ void prefill_row(const ClusterDesc& cl, int rt, int r, int* t, int* head) {
  const int gi = rt * kPrefillRows + r;
  *t = gi / cl.n_heads;
  *head = cl.head0 + gi % cl.n_heads;
}

template <class T, int R, class Loader>
__global__ void __launch_bounds__(kCtaThreads) prefill_attention_kernel(const __grid_constant__ SplitAttentionArgs a) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  using namespace dev;
  constexpr int kLd = R + 8;
  extern __shared__ uint4 smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);  // [64, kLd] query hi, then [64, kLd] lo
  T* ql_s = q_s + kPrefillRows * kLd;
  T* k_s = ql_s + kPrefillRows * kLd;       // [stages, 64, kLd]
  T* v_s = k_s + kPrefillStages * kTokenTile * kLd;
  __shared__ int row_end_s[kPrefillRows];   // q_pos + 1, 0 for padding rows

  const int rt = a.n_row_tiles - 1 - static_cast<int>(blockIdx.x);
  const ClusterDesc& cl = a.clusters[blockIdx.y];
  const int seq = blockIdx.z;
  if (threadIdx.x < kPrefillRows) {
    int t, head;
    prefill_row(cl, rt, threadIdx.x, &t, &head);
    row_end_s[threadIdx.x] = t < a.n_q ? a.q_pos[static_cast<int64_t>(seq) * a.n_q + t] + 1 : 0;
  }
  // q_hi + q_lo = q * qscale (as stage_queries in attention_cta.cuh, for 64 rows).
  for (int i = threadIdx.x; i < kPrefillRows * R; i += kCtaThreads) {
    const int r = i / R, c = i % R;
    int t, head;
    prefill_row(cl, rt, r, &t, &head);
    float x = 0.0f;
    if (t < a.n_q && c < cl.k_len) {
      x = a.q[static_cast<int64_t>(seq) * a.q_seq + static_cast<int64_t>(t) * a.ldq + a.qk_off[head] + c] * a.qscale;
    }
    const T hi = Elem<T>::from_float(x);
    q_s[r * kLd + c] = hi;
    ql_s[r * kLd + c] = Elem<T>::from_float(x - Elem<T>::to_float(hi));
  }
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const int* wend = row_end_s + warp * 16;
  int cta_end = 0, warp_end = 0, warp_min = INT_MAX;
  for (int r = 0; r < kPrefillRows; ++r) cta_end = max(cta_end, row_end_s[r]);
#pragma unroll
  for (int r = 0; r < 16; ++r) {
    warp_end = max(warp_end, wend[r]);
    if (wend[r] > 0) warp_min = min(warp_min, wend[r]);
  }
  const int lim0 = wend[g], lim1 = wend[g + 8];

  const void* krows = seq_rows<T>(a, a.k, a.k_seq, seq);
  const void* vrows = seq_rows<T>(a, a.v, a.v_seq, seq);
  const RowMap map = a.maps.seq(seq);
  const int n_tiles = (cta_end + kTokenTile - 1) / kTokenTile;
  auto load_tile = [&](int tile) {
    const int stage = tile % kPrefillStages, j0 = tile * kTokenTile;
    load_kv_tile<Loader, T, R>(a, cl, krows, vrows, map, k_s + stage * kTokenTile * kLd,
                               v_s + stage * kTokenTile * kLd, kLd, j0, cta_end);
  };
  const CpAsyncPipeline<kPrefillStages, kPrefillStages> pipe{kPrefillStages, n_tiles};
  pipe.prime(load_tile);

  const int k16 = (cl.k_len + 15) / 16, v16 = (cl.v_len + 15) / 16;
  const T* qh = q_s + warp * 16 * kLd;
  const T* ql = ql_s + warp * 16 * kLd;
  WarpAttention<T, R> acc;
  acc.init();
  for (int it = 0; it < n_tiles; ++it) {
    const int stage = pipe.advance(it, load_tile);
#pragma unroll 1
    for (int sl = 0; sl < kTokenTile / 16; ++sl) {
      const int tok0 = it * kTokenTile + sl * 16;
      if (tok0 >= warp_end) break;
      const T* kt = k_s + (stage * kTokenTile + sl * 16) * kLd;
      const T* vt = v_s + (stage * kTokenTile + sl * 16) * kLd;
      float s[2][4];
      warp_scores<T, R>(s, qh, ql, kLd, kt, kLd, k16);
      if (tok0 + 16 > warp_min) mask_scores(s, tok0, lim0, lim1);
      acc.add(s, vt, kLd, v16);
    }
  }
  pipe.drain();
  acc.finish();

  // Lane (g, tq) holds rows g and g + 8 of the warp, columns 8 i + 2 tq and + 1 of tile i.
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = warp * 16 + g + 8 * half;
    if (row_end_s[r] == 0) continue;
    int t, head;
    prefill_row(cl, rt, r, &t, &head);
    float* z = a.z + static_cast<int64_t>(seq) * a.z_seq + static_cast<int64_t>(t) * a.ldz + a.z_off[head];
    const float inv_l = 1.0f / acc.st[half].l;
#pragma unroll
    for (int i = 0; i < R / 8; ++i) {
      const int c = i * 8 + 2 * tq;
      if (c < cl.v_len) z[c] = acc.o[i][2 * half] * inv_l;
      if (c + 1 < cl.v_len) z[c + 1] = acc.o[i][2 * half + 1] * inv_l;
    }
  }
}

template <class T, int R, class Loader>
cudaError_t set_smem_limit() {
  static const cudaError_t e = cudaFuncSetAttribute(prefill_attention_kernel<T, R, Loader>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(prefill_smem_bytes<T, R>()));
  return e;
}

template <class T, int R, class Loader>
cudaError_t launch(const SplitAttentionArgs& a, int n_seq, cudaStream_t stream) {
  if (cudaError_t e = set_smem_limit<T, R, Loader>(); e != cudaSuccess) return e;
  const dim3 grid(a.n_row_tiles, a.n_clusters, n_seq);
  return launch_pdl(prefill_attention_kernel<T, R, Loader>, grid, kCtaThreads, prefill_smem_bytes<T, R>(), stream,
                    a);
}

template <class T, int R, class Loader>
int ctas_per_sm() {
  static const int n = [] {
    if (set_smem_limit<T, R, Loader>() != cudaSuccess) return 1;
    return resident_ctas(prefill_attention_kernel<T, R, Loader>, kCtaThreads, prefill_smem_bytes<T, R>());
  }();
  return n;
}

template <class T, class Loader>
cudaError_t launch_r(const SplitAttentionArgs& a, int n_seq, int R, cudaStream_t stream) {
  switch (R) {
    case 64: return launch<T, 64, Loader>(a, n_seq, stream);
    case 128: return launch<T, 128, Loader>(a, n_seq, stream);
    case 256: return launch<T, 256, Loader>(a, n_seq, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <class T, class Loader>
int occupancy_r(int R) {
  switch (R) {
    case 64: return ctas_per_sm<T, 64, Loader>();
    case 128: return ctas_per_sm<T, 128, Loader>();
    default: return ctas_per_sm<T, 256, Loader>();
  }
}

}  // namespace

cudaError_t launch_prefill_attention(const SplitAttentionArgs& a, int n_seq, bool f16, int R, bool vec_loads,
                                     cudaStream_t stream) {
  return dev::with_row_types(f16, vec_loads, [&]<class T, class L>() { return launch_r<T, L>(a, n_seq, R, stream); });
}

int prefill_attention_ctas_per_sm(bool f16, int R, bool vec_loads) {
  return dev::with_row_types(f16, vec_loads, [&]<class T, class L>() { return occupancy_r<T, L>(R); });
}

}  // namespace lrkv::cuda
