// Fused rebuild-keys attention (see rebuild_attention.h): per 16-token warp slice the keys of
// one KV head are rebuilt on the tensor cores from the cached latents, K = C·B_hᵀ (+ bias), RoPE
// is applied to the f32 accumulators in registers, the rotated keys are re-packed in registers
// as the B operand of the scores Q·Kᵀ, and the values are absorbed (P·C_v, as latent attention).
#include "kernels/cuda/attention_cta.cuh"
#include "kernels/cuda/occupancy.h"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/pipeline.cuh"
#include "kernels/cuda/row_loader.cuh"
#include "kernels/cuda/split_attention_args.h"

namespace lrkv::cuda {
namespace {

constexpr int kRebuildStages = 2;

template <class T, int R, int HD>
constexpr size_t rebuild_smem_bytes() {
  constexpr int kLd = R + 8, kLdq = HD + 8;
  const size_t tiles =
      sizeof(T) * (2 * size_t(kRowsPerCta) * kLdq + size_t(HD) * kLd + 2 * kRebuildStages * kTokenTile * kLd);
  const size_t epilogue = sizeof(float) * 4 * kRowsPerCta * (R + 4);
  return tiles > epilogue ? tiles : epilogue;
}

// kr = C (16 tokens x R) · B_hᵀ (R x HD): n-tile i holds dims 8i..8i+7.
template <class T, int R, int HD>
__device__ __forceinline__ void rebuild_slice(float (&kr)[HD / 8][4], const T* c, const T* b, int k16) {
  using namespace dev;
  constexpr int kLd = R + 8;
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int i = 0; i < HD / 8; ++i) kr[i][0] = kr[i][1] = kr[i][2] = kr[i][3] = 0.0f;
  const T* crow = c + (lane & 15) * kLd + (lane >> 4) * 8;
  const T* brow = b + ((lane & 7) + (lane >> 4) * 8) * kLd + ((lane >> 3) & 1) * 8;
#pragma unroll
  for (int ks = 0; ks < R / 16; ++ks) {
    if (ks < k16) {
      uint32_t a[4];
      ldmatrix_x4(a, crow + ks * 16);
#pragma unroll
      for (int np = 0; np < HD / 16; ++np) {
        uint32_t bb[4];
        ldmatrix_x4(bb, brow + np * 16 * kLd + ks * 16);
        Elem<T>::mma(kr[2 * np], a, bb[0], bb[1]);
        Elem<T>::mma(kr[2 * np + 1], a, bb[2], bb[3]);
      }
    }
  }
}

__device__ __forceinline__ void rotate_by(float& x0, float& x1, float c, float s) {
  const float y0 = x0 * c - x1 * s, y1 = x0 * s + x1 * c;
  x0 = y0;
  x1 = y1;
}

// Rotates the pair of row g by angle (base + g) f and the pair of row g + 8 by (base + g + 8) f.
// cb = (cos, sin)(base f) comes from the slice table (exact angle reduction once per slice); the
// small angle g f (g < 8) is exact enough for the fast sincos; cs8 = (cos, sin)(8 f).
__device__ __forceinline__ void rope_pair_rows(float& a0, float& a1, float& b0, float& b1, int g, float f, float2 cb,
                                               float2 cs8) {
  float sg, cg;
  __sincosf(static_cast<float>(g) * f, &sg, &cg);
  const float c = cb.x * cg - cb.y * sg, s = cb.y * cg + cb.x * sg;
  rotate_by(a0, a1, c, s);
  rotate_by(b0, b1, c * cs8.x - s * cs8.y, s * cs8.x + c * cs8.y);
}

// Adds the bias (when present) and applies RoPE to the slice; rows g and g + 8 of the slice
// whose first token's (cos, sin)(pos * f_i) is base[i].
template <int HD>
__device__ __forceinline__ void bias_rope(float (&kr)[HD / 8][4], const float* bias, bool has_bias,
                                          const float* inv_freq, const float2* cs8, const float2* base,
                                          bool half_split) {
  const int t = threadIdx.x & 3, g = (threadIdx.x & 31) >> 2;
  if (has_bias) {
#pragma unroll
    for (int i = 0; i < HD / 8; ++i) {
      const float b0 = bias[i * 8 + 2 * t], b1 = bias[i * 8 + 2 * t + 1];
      kr[i][0] += b0;
      kr[i][1] += b1;
      kr[i][2] += b0;
      kr[i][3] += b1;
    }
  }
  if (!half_split) {
#pragma unroll
    for (int i = 0; i < HD / 8; ++i) {
      const int fi = i * 4 + t;
      rope_pair_rows(kr[i][0], kr[i][1], kr[i][2], kr[i][3], g, inv_freq[fi], base[fi], cs8[fi]);
    }
  } else {
    constexpr int kHalf = HD / 16;  // n-tile distance of the partner dims (d, d + HD/2)
#pragma unroll
    for (int i = 0; i < kHalf; ++i) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int fi = i * 8 + 2 * t + e;
        rope_pair_rows(kr[i][e], kr[i + kHalf][e], kr[i][2 + e], kr[i + kHalf][2 + e], g, inv_freq[fi], base[fi],
                       cs8[fi]);
      }
    }
  }
}

// s = Q (16 rows x HD, shared memory) · Krᵀ, the rotated keys packed from registers. The query
// is used at 16 bits (its lo half is not added): the rebuilt keys are rounded to 16 bits here
// anyway, and this kernel is compute-bound (see bench/CUDA_NOTES.md).
template <class T, int HD>
__device__ __forceinline__ void scores_from_keys(float (&s)[2][4], const T* q, const float (&kr)[HD / 8][4]) {
  using namespace dev;
  constexpr int kLdq = HD + 8;
  const int lane = threadIdx.x & 31;
  float s2[2][2][4] = {};  // two accumulator sets: halves the dependent mma chains
  const T* qrow = q + (lane & 15) * kLdq + (lane >> 4) * 8;
#pragma unroll
  for (int u = 0; u < HD / 16; ++u) {
    uint32_t a[4];
    ldmatrix_x4(a, qrow + u * 16);
    Elem<T>::mma(s2[u & 1][0], a, Elem<T>::pack(kr[2 * u][0], kr[2 * u][1]),
                 Elem<T>::pack(kr[2 * u + 1][0], kr[2 * u + 1][1]));
    Elem<T>::mma(s2[u & 1][1], a, Elem<T>::pack(kr[2 * u][2], kr[2 * u][3]),
                 Elem<T>::pack(kr[2 * u + 1][2], kr[2 * u + 1][3]));
  }
#pragma unroll
  for (int n = 0; n < 2; ++n) {
#pragma unroll
    for (int c = 0; c < 4; ++c) s[n][c] = s2[0][n][c] + s2[1][n][c];
  }
}

template <class T, int R, int HD, class Loader>
__global__ void __launch_bounds__(kCtaThreads, 3) rebuild_attention_kernel(const __grid_constant__ SplitAttentionArgs a) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  using namespace dev;
  constexpr int kLd = R + 8, kLdq = HD + 8, kStages = kRebuildStages;
  extern __shared__ uint4 smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);  // query hi (scored), then lo (staged, unused here)
  T* ql_s = q_s + kRowsPerCta * kLdq;
  T* b_s = ql_s + kRowsPerCta * kLdq;
  T* c_s = b_s + HD * kLd;
  T* v_s = c_s + kStages * kTokenTile * kLd;
  __shared__ int row_end_s[kRowsPerCta];
  __shared__ float invf_s[HD / 2], bias_s[HD];
  __shared__ float2 cs8_s[HD / 2];  // (cos 8f, sin 8f): row g+8 from row g
  __shared__ float2 base_s[2][4][HD / 2];  // per tile parity and warp slice: (cos, sin)(pos f)

  const CtaPos pos = cta_pos(a);
  const int split = pos.split, seq = pos.seq, rt = pos.rt;
  const ClusterDesc& cl = *pos.cl;
  // Up to the wait, only what no kernel of this step writes (as latent_attention_kernel): the
  // positions, the block tables, the weights (B_g, bias, RoPE frequencies) and, with
  // a.early_rows, cached rows below the sequence's first new row.
  load_row_ends(a, cl, seq, rt, row_end_s);
  for (int i = threadIdx.x; i < HD * R; i += kCtaThreads) {
    const int d = i / R, e = i % R;
    b_s[d * kLd + e] = Elem<T>::from_float(e < cl.k_len ? cl.up[static_cast<int64_t>(d) * cl.k_len + e] : 0.0f);
  }
  for (int i = threadIdx.x; i < HD; i += kCtaThreads) {
    bias_s[i] = a.bias ? a.bias[cl.bias_off + i] : 0.0f;
    if (i < HD / 2) {
      invf_s[i] = a.inv_freq[i];
      float c, sn;
      sincosf(8.0f * a.inv_freq[i], &sn, &c);
      cs8_s[i] = make_float2(c, sn);
    }
  }
  __syncthreads();
  const int jb = split * a.chunk, je = split_end(a, row_end_s, jb);
  if (jb >= je) {
    dev::pdl_wait();
    cta_empty(a, seq, split);
    return;
  }
  const void* crows = seq_rows<T>(a, a.k, a.k_seq, seq);
  const void* vrows = seq_rows<T>(a, a.v, a.v_seq, seq);
  const RowMap map = a.maps.seq(seq);
  const int n_tiles = (je - jb + kTokenTile - 1) / kTokenTile;
  // Angles of the first token of each warp slice of a tile, exact reduction (rope_sincos).
  auto slice_bases = [&](int tile) {
    for (int i = threadIdx.x; i < 4 * (HD / 2); i += kCtaThreads) {
      const int w = i / (HD / 2), fi = i % (HD / 2);
      float c, sn;
      rope_sincos(a.pos0 + jb + tile * kTokenTile + w * 16, invf_s[fi], &c, &sn);
      base_s[tile & 1][w][fi] = make_float2(c, sn);
    }
  };
  slice_bases(0);
  auto load_tile = [&](int tile) {
    const int stage = tile % kStages, j0 = jb + tile * kTokenTile;
    load_kv_tile<Loader, T, R>(a, cl, crows, vrows, map, c_s + stage * kTokenTile * kLd,
                               v_s + stage * kTokenTile * kLd, kLd, j0, je);
  };
  const CpAsyncPipeline<kStages, kStages> pipe{kStages, n_tiles};
  const bool early = early_tiles(a, seq, jb, je, (kStages - 1) * kTokenTile);  // the primed tiles
  if (early) pipe.prime(load_tile);
  dev::pdl_wait();
  stage_queries<T, HD>(a, cl, seq, rt, HD, q_s, ql_s, kLdq);  // read after the first advance()'s barrier
  if (!early) pipe.prime(load_tile);

  const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2;
  const int lim0 = min(row_end_s[g], je), lim1 = min(row_end_s[g + 8], je);
  const int no_mask_below = cta_min_limit(row_end_s, je);
  const int k16 = (cl.k_len + 15) / 16, v16 = (cl.v_len + 15) / 16;
  WarpAttention<T, R> acc;
  acc.init();
  for (int it = 0; it < n_tiles; ++it) {
    const int stage = pipe.advance(it, load_tile);
    if (it + 1 < n_tiles) slice_bases(it + 1);
    const int tok0 = jb + it * kTokenTile + warp * 16;
    if (tok0 < je) {
      float kr[HD / 8][4];
      rebuild_slice<T, R, HD>(kr, c_s + (stage * kTokenTile + warp * 16) * kLd, b_s, k16);
      bias_rope<HD>(kr, bias_s, a.bias != nullptr, invf_s, cs8_s, base_s[it & 1][warp], a.rope_half_split != 0);
      float s[2][4];
      scores_from_keys<T, HD>(s, q_s, kr);
      if (tok0 + 16 > no_mask_below) mask_scores(s, tok0, lim0, lim1);
      acc.add(s, v_s + (stage * kTokenTile + warp * 16) * kLd, kLd, v16);
    }
  }
  pipe.drain();
  cta_epilogue<T, R>(a, cl, seq, split, rt, acc, smem_raw, row_end_s);
}

template <class T, int R, int HD, class Loader>
cudaError_t set_smem() {
  static const cudaError_t e = cudaFuncSetAttribute(rebuild_attention_kernel<T, R, HD, Loader>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(rebuild_smem_bytes<T, R, HD>()));
  return e;
}

template <class T, int R, int HD, class Loader>
cudaError_t launch(const SplitAttentionArgs& a, int n_seq, cudaStream_t stream) {
  if (cudaError_t e = set_smem<T, R, HD, Loader>(); e != cudaSuccess) return e;
  const dim3 grid(a.n_splits, a.n_clusters * a.n_row_tiles, n_seq);
  return launch_pdl(rebuild_attention_kernel<T, R, HD, Loader>, grid, kCtaThreads, rebuild_smem_bytes<T, R, HD>(),
                    stream, a);
}

// Resident CTAs per multiprocessor (queried once per instantiation).
template <class T, int R, int HD, class Loader>
int occupancy() {
  static const int n = [] {
    if (set_smem<T, R, HD, Loader>() != cudaSuccess) return 1;
    return resident_ctas(rebuild_attention_kernel<T, R, HD, Loader>, kCtaThreads, rebuild_smem_bytes<T, R, HD>());
  }();
  return n;
}

// Dispatch over (R, head_dim) for one element type and loader; `op` is launch or occupancy.
template <class T, class Loader, class Op>
auto dispatch(int R, int hd, Op op) {
#define LRKV_REBUILD_CASE(r, h) \
  if (R == r && hd == h) return op.template operator()<T, r, h, Loader>();
  LRKV_REBUILD_CASE(64, 64)
  LRKV_REBUILD_CASE(64, 80)
  LRKV_REBUILD_CASE(64, 96)
  LRKV_REBUILD_CASE(64, 128)
  LRKV_REBUILD_CASE(128, 64)
  LRKV_REBUILD_CASE(128, 80)
  LRKV_REBUILD_CASE(128, 96)
  LRKV_REBUILD_CASE(128, 128)
#undef LRKV_REBUILD_CASE
  return op.template operator()<T, 0, 0, Loader>();
}

}  // namespace

cudaError_t launch_rebuild_attention(const SplitAttentionArgs& a, int n_seq, bool f16, int R, int head_dim,
                                     bool vec_loads, cudaStream_t stream) {
  auto op = [&]<class T, int r, int h, class L>() -> cudaError_t {
    if constexpr (r == 0) {
      return cudaErrorInvalidValue;
    } else {
      return launch<T, r, h, L>(a, n_seq, stream);
    }
  };
  return dev::with_row_types(f16, vec_loads, [&]<class T, class L>() { return dispatch<T, L>(R, head_dim, op); });
}

int rebuild_attention_ctas_per_sm(bool f16, int R, int head_dim, bool vec_loads) {
  auto op = [&]<class T, int r, int h, class L>() -> int {
    if constexpr (r == 0) {
      return 1;
    } else {
      return occupancy<T, r, h, L>();
    }
  };
  return dev::with_row_types(f16, vec_loads, [&]<class T, class L>() { return dispatch<T, L>(R, head_dim, op); });
}

}  // namespace lrkv::cuda
