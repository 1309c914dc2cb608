// Quantized latent attention decoding straight into mma fragments (2/4/8 bits, groups of 0 or
// a multiple of 16, R = 64/128); the host picks it in quant_latent_attention.cpp, other formats
// use quant_latent_attention.cu.
#include "kernels/cuda/attention_cta.cuh"
#include "kernels/cuda/occupancy.h"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/pipeline.cuh"
#include "kernels/cuda/quant_attention_args.h"
#include "kernels/cuda/quant_row_loader.cuh"

namespace lrkv::cuda {
namespace {

// ---- register-fragment kernel (2/4/8 bits, groups of 0 or a multiple of 16, R = 64/128) ----
//
// The packed bytes still stream through shared memory (cp.async stages), but each lane decodes
// only the values its mma fragments need, straight into registers: no f16 tile, no ldmatrix, no
// extra barrier. Keys: the score reduction runs over key columns in any order, so mma k-block kb
// of 64-column block h pairs (k 2t, 2t+1 | 2t+8, 2t+9) with columns 64h + 16t + 4kb + (0,1 | 2,3):
// lane (g, t) reads one 16-column chunk of tokens g and g+8 (2*BITS contiguous bytes) and the
// query fragments are read with the same column map. Values: n-tile 8h + j, column n stands
// for value column 64h + 8n + j, so lane (g, t) reads one 8-column chunk (BITS bytes) of tokens
// 2t, 2t+1, 2t+8, 2t+9; the epilogue undoes the permutation (cta_epilogue<.., true>).
// ANY: rows at any byte offset in shared memory (aligned 32-bit loads + funnel shifts).

// R = 64: tiles of 128 rows, each warp takes two 16-token slices per tile (half the barriers
// and cp.async bookkeeping per token, twice the bytes per stage in flight). R = 128: 64 rows
// (two slices would spill). quant_frag_tile_rows() on the host.
template <int R>
inline constexpr int kFragSlicesR = R == 64 ? 2 : 1;

template <bool ANY>
__device__ __forceinline__ uint32_t q_ld4(const uint8_t* p) {
  if constexpr (!ANY) {
    return *reinterpret_cast<const uint32_t*>(p);
  } else {
    const uint32_t u = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p));
    const uint32_t* w = reinterpret_cast<const uint32_t*>(p - (u & 3));
    return __funnelshift_r(w[0], w[1], (u & 3) * 8);
  }
}
template <bool ANY>
__device__ __forceinline__ uint2 q_ld8(const uint8_t* p) {
  if constexpr (!ANY) {
    return *reinterpret_cast<const uint2*>(p);
  } else {
    const uint32_t u = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p));
    const uint32_t* w = reinterpret_cast<const uint32_t*>(p - (u & 3));
    const uint32_t sh = (u & 3) * 8, w0 = w[0], w1 = w[1], w2 = w[2];
    return make_uint2(__funnelshift_r(w0, w1, sh), __funnelshift_r(w1, w2, sh));
  }
}
template <bool ANY>
__device__ __forceinline__ uint32_t q_ld2(const uint8_t* p) {
  if constexpr (!ANY) {
    return *reinterpret_cast<const uint16_t*>(p);
  } else {
    return q_ld4<true>(p) & 0xFFFFu;
  }
}

__device__ __forceinline__ uint32_t q_magic(uint32_t x, uint32_t mask) {
  return (x & mask) | 0x64006400u;  // one LOP3
}
// (x - off) * s + m on two 1024-biased codes (exact subtraction, one rounding).
__device__ __forceinline__ uint32_t q_affine(uint32_t x, __half2 off, __half2 s, __half2 m) {
  return dev::h2_bits(__hfma2(__hsub2(dev::bits_h2(x), off), s, m));
}

// Key chunk: 16 columns (16t .. 16t + 15 of a 64-column block) of one token as 4 k-blocks of
// b0/b1 halves (1024-biased codes, before scaling).
template <int BITS, bool ANY>
__device__ __forceinline__ void q_key_codes(const uint8_t* p, uint32_t (&c)[4][2]) {
  if constexpr (BITS == 4) {
    const uint2 w = q_ld8<ANY>(p);
    const uint32_t ws[2] = {w.x, w.y};
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const uint32_t hi = ws[i] >> 4;
      c[2 * i][0] = q_magic(__byte_perm(ws[i], hi, 0x0400), 0x000F000Fu);
      c[2 * i][1] = q_magic(__byte_perm(ws[i], hi, 0x0501), 0x000F000Fu);
      c[2 * i + 1][0] = q_magic(__byte_perm(ws[i], hi, 0x0602), 0x000F000Fu);
      c[2 * i + 1][1] = q_magic(__byte_perm(ws[i], hi, 0x0703), 0x000F000Fu);
    }
  } else if constexpr (BITS == 8) {
    const uint2 w0 = q_ld8<ANY>(p), w1 = q_ld8<ANY>(p + 8);
    const uint32_t ws[4] = {w0.x, w0.y, w1.x, w1.y};
#pragma unroll
    for (int kb = 0; kb < 4; ++kb) {
      c[kb][0] = __byte_perm(ws[kb], 0x64646464u, 0x4140);
      c[kb][1] = __byte_perm(ws[kb], 0x64646464u, 0x4342);
    }
  } else {  // 2 bits: column 4kb + e at bits 8kb + 2e
    const uint32_t w = q_ld4<ANY>(p), a2 = w >> 2, a4 = w >> 4, a6 = w >> 6;
#pragma unroll
    for (int kb = 0; kb < 4; ++kb) {
      c[kb][0] = q_magic(__byte_perm(w, a2, 0x0400 + 0x0101 * kb), 0x00030003u);
      c[kb][1] = q_magic(__byte_perm(a4, a6, 0x0400 + 0x0101 * kb), 0x00030003u);
    }
  }
}

// Value chunk: 8 columns of tokens a (low halves) and b (high halves), half2 per column.
template <int BITS, bool ANY>
__device__ __forceinline__ void q_value_codes(const uint8_t* pa, const uint8_t* pb, uint32_t (&c)[8]) {
  if constexpr (BITS == 4) {
    const uint32_t wa = q_ld4<ANY>(pa), wb = q_ld4<ANY>(pb);
    const uint32_t lo = __byte_perm(wa, wb, 0x5410), hi = __byte_perm(wa, wb, 0x7632);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      c[j] = q_magic(lo >> (4 * j), 0x000F000Fu);
      c[j + 4] = q_magic(hi >> (4 * j), 0x000F000Fu);
    }
  } else if constexpr (BITS == 8) {
    const uint2 wa = q_ld8<ANY>(pa), wb = q_ld8<ANY>(pb);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      c[j] = q_magic(__byte_perm(wa.x, wb.x, j | ((4 + j) << 8)), 0x00FF00FFu);
      c[j + 4] = q_magic(__byte_perm(wa.y, wb.y, j | ((4 + j) << 8)), 0x00FF00FFu);
    }
  } else {
    const uint32_t x = __byte_perm(q_ld2<ANY>(pa), q_ld2<ANY>(pb), 0x5410);
#pragma unroll
    for (int j = 0; j < 8; ++j) c[j] = q_magic(x >> (2 * j), 0x00030003u);
  }
}

template <int R, int BITS, bool ANY>
__global__ void __launch_bounds__(kCtaThreads, R == 64 ? 4 : 3) quant_frag_kernel(const __grid_constant__ QuantAttentionArgs qa) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  using namespace dev;
  using T = __half;
  constexpr int kLd = R + 8;
  constexpr int kH = R / 64;
  constexpr int kFragSlices = kFragSlicesR<R>;
  constexpr int kFragTile = kFragSlices * kTokenTile;
  const SplitAttentionArgs& a = qa.a;
  const int stages = a.stages;
  extern __shared__ uint4 smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);
  T* ql_s = q_s + kRowsPerCta * kLd;
  uint8_t* kraw = reinterpret_cast<uint8_t*>(ql_s + kRowsPerCta * kLd);
  uint8_t* vraw = kraw + stages * qa.k.stage_bytes;
  __shared__ int row_end_s[kRowsPerCta];

  const CtaPos pos = cta_pos(a);
  const int split = pos.split, seq = pos.seq, rt = pos.rt;
  const ClusterDesc& cl = *pos.cl;
  // Up to the wait, only what no kernel of this step writes (as latent_attention_kernel): the
  // positions, the block tables and, with a.early_rows, rows below the sequence's first new row.
  load_row_ends(a, cl, seq, rt, row_end_s);
  __syncthreads();
  const int jb = split * a.chunk, je = split_end(a, row_end_s, jb);
  if (jb >= je) {
    dev::pdl_wait();
    cta_empty(a, seq, split);
    return;
  }
  const uint8_t* krows = seq_rows<uint8_t>(a, a.k, a.k_seq, seq) + cl.k_off;
  const uint8_t* vrows = seq_rows<uint8_t>(a, a.v, a.v_seq, seq) + cl.v_off;
  const RowMap map = a.maps.seq(seq);
  const int kseg = quant_seg_bytes(cl.k_len, qa.k), vseg = quant_seg_bytes(cl.v_len, qa.v);
  const int n_tiles = (je - jb + kFragTile - 1) / kFragTile;
  const CpAsyncPipeline<2, kFragMaxStages> pipe{stages, n_tiles};
  const RawTileCopy kcopy = raw_tile_copy(qa.k, kseg, threadIdx.x), vcopy = raw_tile_copy(qa.v, vseg, threadIdx.x);
  auto load_tile = [&](int tile) {
    const int stage = pipe.stage(tile), j0 = jb + tile * kFragTile;
    load_raw_tile<kFragTile>(kraw + stage * qa.k.stage_bytes, qa.k, krows, map, a.ldk, kseg, j0, je, threadIdx.x, kcopy);
    load_raw_tile<kFragTile>(vraw + stage * qa.v.stage_bytes, qa.v, vrows, map, a.ldv, vseg, j0, je, threadIdx.x, vcopy);
  };
  const bool early = early_tiles(a, seq, jb, je, (stages - 1) * kFragTile);  // the primed tiles
  if (early) pipe.prime(load_tile);
  dev::pdl_wait();
  stage_queries<T, R>(a, cl, seq, rt, cl.k_len, q_s, ql_s, kLd);
  if (!early) pipe.prime(load_tile);
  __syncthreads();  // the queries, before qfrag reads them

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int lim0 = min(row_end_s[g], je), lim1 = min(row_end_s[g + 8], je);
  const int no_mask_below = cta_min_limit(row_end_s, je);
  const bool sym = qa.k.sym != 0;
  const __half2 off2 = __half2half2(__int2half_rn(1024 + (sym ? (1 << (BITS - 1)) - 1 : 0)));
  const int kgs = qa.k.group > 0 ? qa.k.group : cl.k_len, vgs = qa.v.group > 0 ? qa.v.group : cl.v_len;
  const int kng = (cl.k_len + kgs - 1) / kgs, vng = (cl.v_len + vgs - 1) / vgs;
  const int khdr = kng * (sym ? 2 : 4), vhdr = vng * (sym ? 2 : 4);
  const int kld = qa.k.raw_ld, vld = qa.v.raw_ld;
  // Per 64-column block h: this lane's key chunk (columns 64h + 16t ..) and value chunk
  // (columns 64h + 8g ..): byte offsets of codes, scale and minimum within a row.
  int kc_off[kH], ks_off[kH], vc_off[kH], vs_off[kH];
  bool k_on[kH], k_part[kH], v_on[kH];
#pragma unroll
  for (int h = 0; h < kH; ++h) {
    const int kc = 64 * h + 16 * t, vc = 64 * h + 8 * g;
    k_on[h] = kc < cl.k_len;
    k_part[h] = kc + 16 > cl.k_len;
    v_on[h] = 64 * h < cl.v_len;  // whole 64-column blocks: every lane joins the mma
    kc_off[h] = khdr + (kc * BITS) / 8;
    ks_off[h] = 2 * (kc / kgs);
    // Lanes past the value segment decode a valid chunk (block start) into columns never written.
    const int vce = vc < cl.v_len ? vc : 64 * h;
    vc_off[h] = vhdr + (vce * BITS) / 8;
    vs_off[h] = 2 * (vce / vgs);
  }
  const int kmin_off = 2 * kng, vmin_off = 2 * vng;
  // Query fragments (hi, lo) with the key column map, kept in registers for R = 64.
  auto qfrag = [&](const T* q, int h, int kb, uint32_t (&f)[4]) {
    const int c = 64 * h + 16 * t + 4 * kb;
    const uint2 r0 = *reinterpret_cast<const uint2*>(q + g * kLd + c);
    const uint2 r1 = *reinterpret_cast<const uint2*>(q + (g + 8) * kLd + c);
    f[0] = r0.x;
    f[1] = r1.x;
    f[2] = r0.y;
    f[3] = r1.y;
  };
  uint32_t qreg[kH == 1 ? 4 : 1][2][4];
  if constexpr (kH == 1) {
#pragma unroll
    for (int kb = 0; kb < 4; ++kb) {
      qfrag(q_s, 0, kb, qreg[kb][0]);
      qfrag(ql_s, 0, kb, qreg[kb][1]);
    }
  }
  WarpAttention<T, R> acc;
  acc.init();
  for (int it = 0; it < n_tiles; ++it) {
    const int stage = pipe.advance(it, load_tile);
#pragma unroll
    for (int sl = 0; sl < kFragSlices; ++sl) {
    const int tok0 = jb + it * kFragTile + (warp * kFragSlices + sl) * 16;
    if (tok0 >= je) break;
    const uint8_t* kt = kraw + stage * qa.k.stage_bytes + (warp * kFragSlices + sl) * 16 * kld;
    const uint8_t* vt = vraw + stage * qa.v.stage_bytes + (warp * kFragSlices + sl) * 16 * vld;
    // Scores: n-tile n = tokens 8n .. 8n + 7, this lane's B column is token 8n + g.
    float s2[2][2][4] = {};
#pragma unroll
    for (int h = 0; h < kH; ++h) {
      uint32_t b[2][4][2];
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        const uint8_t* row = kt + (8 * n + g) * kld;
        if (k_on[h]) {
          uint32_t c[4][2];
          q_key_codes<BITS, ANY>(row + kc_off[h], c);
          const __half2 s = __half2half2(__ushort_as_half(static_cast<unsigned short>(q_ld2<ANY>(row + ks_off[h]))));
          const __half2 m = sym ? __half2half2(__ushort_as_half(0))
                                : __half2half2(__ushort_as_half(
                                      static_cast<unsigned short>(q_ld2<ANY>(row + kmin_off + ks_off[h]))));
#pragma unroll
          for (int kb = 0; kb < 4; ++kb) {
            b[n][kb][0] = q_affine(c[kb][0], off2, s, m);
            b[n][kb][1] = q_affine(c[kb][1], off2, s, m);
          }
          if (k_part[h]) {  // columns past the segment: zero (their query is zero too)
#pragma unroll
            for (int kb = 0; kb < 4; ++kb) {
#pragma unroll
              for (int e = 0; e < 2; ++e) {
                const int col = 64 * h + 16 * t + 4 * kb + 2 * e;
                if (col >= cl.k_len) b[n][kb][e] = 0u;
                else if (col + 1 >= cl.k_len) b[n][kb][e] &= 0x0000FFFFu;
              }
            }
          }
        } else {
#pragma unroll
          for (int kb = 0; kb < 4; ++kb) b[n][kb][0] = b[n][kb][1] = 0u;
        }
      }
#pragma unroll
      for (int kb = 0; kb < 4; ++kb) {
        uint32_t qh[4], ql[4];
        if constexpr (kH == 1) {
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            qh[i] = qreg[kb][0][i];
            ql[i] = qreg[kb][1][i];
          }
        } else {
          qfrag(q_s, h, kb, qh);
          qfrag(ql_s, h, kb, ql);
        }
        Elem<T>::mma(s2[0][0], qh, b[0][kb][0], b[0][kb][1]);
        Elem<T>::mma(s2[0][1], qh, b[1][kb][0], b[1][kb][1]);
        Elem<T>::mma(s2[1][0], ql, b[0][kb][0], b[0][kb][1]);
        Elem<T>::mma(s2[1][1], ql, b[1][kb][0], b[1][kb][1]);
      }
    }
    float s[2][4];
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) s[n][c] = s2[0][n][c] + s2[1][n][c];
    }
    if (tok0 + 16 > no_mask_below) mask_scores(s, tok0, lim0, lim1);
    // Online softmax (WarpAttention::add with the rescale skipped while no row max moves).
    float mx[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(fmaxf(s[0][2 * r], s[0][2 * r + 1]), fmaxf(s[1][2 * r], s[1][2 * r + 1]));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    }
    float alpha[2], mu[2];
    bool moved = false;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float mn = fmaxf(acc.st[r].m, mx[r]);
      moved = moved || mn != acc.st[r].m;
      mu[r] = mn == -INFINITY ? 0.0f : mn;
      alpha[r] = exp2_approx(acc.st[r].m - mu[r]);
      acc.st[r].m = mn;
    }
    float p[2][4];
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) p[n][c] = exp2_approx(s[n][c] - mu[c >> 1]);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      acc.st[r].l = acc.st[r].l * alpha[r] + p[0][2 * r] + p[0][2 * r + 1] + p[1][2 * r] + p[1][2 * r + 1];
    }
    if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
      for (int i = 0; i < R / 8; ++i) {
        acc.o[i][0] *= alpha[0];
        acc.o[i][1] *= alpha[0];
        acc.o[i][2] *= alpha[1];
        acc.o[i][3] *= alpha[1];
      }
    }
    const uint32_t pa[4] = {Elem<T>::pack(p[0][0], p[0][1]), Elem<T>::pack(p[0][2], p[0][3]),
                            Elem<T>::pack(p[1][0], p[1][1]), Elem<T>::pack(p[1][2], p[1][3])};
    // P·V: token pairs (2t, 2t+1) -> b0, (2t+8, 2t+9) -> b1.
#pragma unroll
    for (int h = 0; h < kH; ++h) {
      if (!v_on[h]) continue;
      uint32_t vb[2][8];
#pragma unroll
      for (int pr = 0; pr < 2; ++pr) {
        const uint8_t* ra = vt + (8 * pr + 2 * t) * vld;
        const uint8_t* rb = ra + vld;
        uint32_t c[8];
        q_value_codes<BITS, ANY>(ra + vc_off[h], rb + vc_off[h], c);
        const uint32_t sab = __byte_perm(q_ld2<ANY>(ra + vs_off[h]), q_ld2<ANY>(rb + vs_off[h]), 0x5410);
        const uint32_t mab =
            sym ? 0u : __byte_perm(q_ld2<ANY>(ra + vmin_off + vs_off[h]), q_ld2<ANY>(rb + vmin_off + vs_off[h]), 0x5410);
#pragma unroll
        for (int j = 0; j < 8; ++j) vb[pr][j] = q_affine(c[j], off2, bits_h2(sab), bits_h2(mab));
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) Elem<T>::mma(acc.o[8 * h + j], pa, vb[0][j], vb[1][j]);
    }
    }  // slices
  }
  pipe.drain();
  cta_epilogue<T, R, true>(a, cl, seq, split, rt, acc, smem_raw, row_end_s);
}

template <int R, int BITS, bool ANY>
cudaError_t frag_set_smem_limit() {
  static const cudaError_t e = cudaFuncSetAttribute(quant_frag_kernel<R, BITS, ANY>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(quant_attention_smem_limit()));
  return e;
}

template <int R, int BITS, bool ANY>
cudaError_t frag_launch(const QuantAttentionArgs& qa, int n_seq, size_t smem, cudaStream_t stream) {
  if (qa.a.stages < 2 || qa.a.stages > kFragMaxStages) return cudaErrorInvalidValue;
  if (cudaError_t e = frag_set_smem_limit<R, BITS, ANY>(); e != cudaSuccess) return e;
  const dim3 grid(qa.a.n_splits, qa.a.n_clusters * qa.a.n_row_tiles, n_seq);
  return launch_pdl(quant_frag_kernel<R, BITS, ANY>, grid, kCtaThreads, smem, stream, qa);
}

template <int R, int BITS, bool ANY>
int frag_occupancy(size_t smem) {
  if (frag_set_smem_limit<R, BITS, ANY>() != cudaSuccess) return 1;
  return resident_ctas(quant_frag_kernel<R, BITS, ANY>, kCtaThreads, smem);
}


}  // namespace

size_t quant_frag_smem_bytes(int R, int stages, const QuantSide& k, const QuantSide& v) {
  const size_t ld = size_t(R) + 8;
  const size_t q = sizeof(__half) * 2 * kRowsPerCta * ld;
  const size_t epilogue = sizeof(float) * 4 * kRowsPerCta * (size_t(R) + 4);
  const size_t all = q + size_t(stages) * (size_t(k.stage_bytes) + size_t(v.stage_bytes));
  return all > epilogue ? all : epilogue;
}

#define LRKV_QF_DISPATCH(CALL)                                               \
  switch (R * 16 + bits * 2 + (any ? 1 : 0)) {                               \
    case 64 * 16 + 8: return CALL(64, 4, false);                             \
    case 64 * 16 + 9: return CALL(64, 4, true);                              \
    case 64 * 16 + 16: return CALL(64, 8, false);                            \
    case 64 * 16 + 17: return CALL(64, 8, true);                             \
    case 64 * 16 + 4: return CALL(64, 2, false);                             \
    case 64 * 16 + 5: return CALL(64, 2, true);                              \
    case 128 * 16 + 8: return CALL(128, 4, false);                           \
    case 128 * 16 + 9: return CALL(128, 4, true);                            \
    case 128 * 16 + 16: return CALL(128, 8, false);                          \
    case 128 * 16 + 17: return CALL(128, 8, true);                           \
    case 128 * 16 + 4: return CALL(128, 2, false);                           \
    case 128 * 16 + 5: return CALL(128, 2, true);                            \
    default: break;                                                          \
  }

cudaError_t launch_quant_frag_attention(const QuantAttentionArgs& qa, int n_seq, int R, bool any, size_t smem,
                                        cudaStream_t stream) {
  const int bits = qa.k.bits;
#define LRKV_QF_LAUNCH(r, b, y) frag_launch<r, b, y>(qa, n_seq, smem, stream)
  LRKV_QF_DISPATCH(LRKV_QF_LAUNCH)
#undef LRKV_QF_LAUNCH
  return cudaErrorInvalidValue;
}

int quant_frag_ctas_per_sm(int R, int bits, bool any, size_t smem) {
#define LRKV_QF_OCC(r, b, y) frag_occupancy<r, b, y>(smem)
  LRKV_QF_DISPATCH(LRKV_QF_OCC)
#undef LRKV_QF_OCC
  return 1;
}
#undef LRKV_QF_DISPATCH

}  // namespace lrkv::cuda
