// Split-K attention over cached latent rows with the query absorbed (see latent_attention.h):
// tensor-core scores Q·Kᵀ and P·V per 16-token warp slice, online softmax, cp.async tiles
// pipelined a.stages deep (2 .. max_stages<T, R>). Dense flash-decoding is the same kernel with head_dim segments.
#include <array>

#include "kernels/cuda/attention_cta.cuh"
#include "kernels/cuda/bulk_pipeline.cuh"
#include "kernels/cuda/occupancy.h"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/pipeline.cuh"
#include "kernels/cuda/row_loader.cuh"
#include "kernels/cuda/split_attention_args.h"

namespace lrkv::cuda {
namespace {

// Row strides (values) of the query halves (padded) and of the cached-row tiles (padded, or R
// for the swizzled layout of tile_swizzle.cuh).
template <int R>
inline constexpr int kQueryLd = R + 8;
template <int R, bool kSwz>
inline constexpr int kTileLd = kSwz ? R : R + 8;

// Query halves, then `stages` key tiles and `stages` value tiles; the epilogue reuses them.
template <class T, int R, bool kSwz>
constexpr size_t latent_smem_bytes(int stages) {
  const size_t tiles = sizeof(T) * (2 * kRowsPerCta * size_t(kQueryLd<R>) +
                                    2 * stages * kTokenTile * size_t(kTileLd<R, kSwz>));
  const size_t epilogue = sizeof(float) * 4 * kRowsPerCta * (R + 4);
  return tiles > epilogue ? tiles : epilogue;
}
// Three swizzled 2-stage R = 128 CTAs fit a multiprocessor's 228 KB (with 1 KB reserved and the
// static arrays per CTA); padded ones take 78 KB each, two per multiprocessor.
static_assert(3 * (latent_smem_bytes<__half, 128, true>(2) + 2048) <= 228 * 1024);
static_assert(3 * (latent_smem_bytes<__half, 128, false>(2) + 1024) > 228 * 1024);

// Deepest pipeline whose tiles fit one CTA's shared memory (227 KB opt-in on sm_90, 1 KB of it
// left for the static arrays), at most kLatentMaxStages: R = 64 and 128 take 6, R = 256 3.
template <class T, int R, bool kSwz>
constexpr int max_stages() {
  int s = kLatentMaxStages;
  while (s > 2 && latent_smem_bytes<T, R, kSwz>(s) > 226 * 1024) --s;
  return s;
}
static_assert(max_stages<__half, 128, false>() == 6 && max_stages<__half, 256, false>() == 3);
static_assert(max_stages<__half, 256, true>() == 3);

// Zeroes columns [len, R) of the `rows` tile rows at t (row stride kLd): bulk copies write only
// the segment, and the score / P·V mma read all R columns (the query is zero there, the cached
// values must be finite).
template <class T, int R, int kLd>
__device__ __forceinline__ void zero_pad_columns(T* t, int rows, int len) {
  if (len >= R) return;
  const int w = R - len;
  for (int i = threadIdx.x; i < rows * w; i += kCtaThreads) {
    t[(i / w) * kLd + len + i % w] = dev::Elem<T>::from_float(0.0f);
  }
}

template <class T, int R, class Loader>
__global__ void __launch_bounds__(kCtaThreads) latent_attention_kernel(const __grid_constant__ SplitAttentionArgs a) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  using namespace dev;
  constexpr bool kSwz = Loader::kSwizzle;
  constexpr int kQLd = kQueryLd<R>, kLd = kTileLd<R, kSwz>;
  const int stages = a.stages;
  extern __shared__ uint4 smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);  // query hi, then lo halves
  T* ql_s = q_s + kRowsPerCta * kQLd;
  T* k_s = ql_s + kRowsPerCta * kQLd;  // 128-byte aligned: the swizzle is conflict-free from there
  T* v_s = k_s + stages * kTokenTile * kLd;
  __shared__ int row_end_s[kRowsPerCta];
  __shared__ uint64_t bars[Loader::kBulk ? kLatentMaxStages : 1];  // BulkPipeline's mbarriers

  // Up to the wait, only what no kernel of this step writes: the positions and block tables (the
  // host uploads them before the step) and, with a.early_rows, cached rows below the sequence's
  // first new row. The queries, the new rows and the workspace wait for the predecessor.
  const CtaPos pos = cta_pos(a);
  const int split = pos.split, seq = pos.seq, rt = pos.rt;
  const ClusterDesc& cl = *pos.cl;
  load_row_ends(a, cl, seq, rt, row_end_s);
  if constexpr (Loader::kBulk) {
    zero_pad_columns<T, R, kLd>(k_s, stages * kTokenTile, cl.k_len);
    zero_pad_columns<T, R, kLd>(v_s, stages * kTokenTile, cl.v_len);
    BulkPipeline<kLatentMaxStages>{stages, 0, 0, 0, bars}.init();
  }
  __syncthreads();
  const int jb = split * a.chunk, je = split_end(a, row_end_s, jb);
  if (jb >= je) {
    dev::pdl_wait();
    cta_empty(a, seq, split);
    return;
  }
  const void* krows = seq_rows<T>(a, a.k, a.k_seq, seq);
  const void* vrows = seq_rows<T>(a, a.v, a.v_seq, seq);
  const RowMap map = a.maps.seq(seq);
  const int n_tiles = (je - jb + kTokenTile - 1) / kTokenTile;
  const bool early = early_tiles(a, seq, jb, je, (stages - 1) * kTokenTile);  // the primed tiles

  const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2;
  const int lim0 = min(row_end_s[g], je), lim1 = min(row_end_s[g + 8], je);
  const int no_mask_below = cta_min_limit(row_end_s, je);
  const int k16 = (cl.k_len + 15) / 16, v16 = (cl.v_len + 15) / 16;
  // Segments R wide (dense heads, most latents): the column blocks are a compile-time count, so
  // the ldmatrix loads of all blocks can be issued ahead of their mma.
  const bool full = k16 == R / 16 && v16 == R / 16;
  WarpAttention<T, R> acc;
  acc.init();
  // The tile loop over either pipeline (same order of waits, barriers and loads).
  // Queries are staged after the wait; the first advance() syncs the CTA before any warp reads them.
  auto attend = [&](const auto& pipe, auto&& load_tile) {
    if (early) pipe.prime(load_tile);
    dev::pdl_wait();
    stage_queries<T, R>(a, cl, seq, rt, cl.k_len, q_s, ql_s, kQLd);
    if (!early) pipe.prime(load_tile);
    for (int it = 0; it < n_tiles; ++it) {
      const int stage = pipe.advance(it, load_tile);
      const int tok0 = jb + it * kTokenTile + warp * 16;
      if (tok0 < je) {
        const T* kt = k_s + (stage * kTokenTile + warp * 16) * kLd;
        const T* vt = v_s + (stage * kTokenTile + warp * 16) * kLd;
        auto slice = [&]<bool kFull>() {
          float s[2][4];
          warp_scores<T, R, kSwz, kFull>(s, q_s, ql_s, kQLd, kt, kLd, k16);
          if (tok0 + 16 > no_mask_below) mask_scores(s, tok0, lim0, lim1);
          acc.template add<kSwz, kFull>(s, vt, kLd, v16);
        };
        if (full) {
          slice.template operator()<true>();
        } else {
          slice.template operator()<false>();
        }
      }
    }
    pipe.drain();
  };
  if constexpr (Loader::kBulk) {
    static_assert(kCtaThreads == 2 * kTokenTile && BulkPipeline<kLatentMaxStages>::kRows == kTokenTile,
                  "one thread per key row and one per value row of a tile");
    const BulkPipeline<kLatentMaxStages> pipe{stages, n_tiles, je - jb,
                                              (cl.k_len + cl.v_len) * static_cast<int>(sizeof(T)), bars};
    // Thread r < 64 copies tile row r's key segment, 64 + r its value segment; value rows past
    // je are zeroed (their probabilities are 0, and 0 x garbage could be NaN). Key rows past je
    // keep whatever the stage held: their scores are assigned -inf by mask_scores (not added to),
    // which every slice that crosses je goes through.
    const bool val = threadIdx.x >= kTokenTile;
    const int r = threadIdx.x % kTokenTile;
    const T* base = static_cast<const T*>(val ? vrows : krows) + (val ? cl.v_off : cl.k_off);
    const int64_t ld = val ? a.ldv : a.ldk;
    const uint32_t seg_bytes = static_cast<uint32_t>((val ? cl.v_len : cl.k_len) * sizeof(T));
    T* dst0 = (val ? v_s : k_s) + r * kLd;
    attend(pipe, [&](int tile, uint64_t* bar) {
      T* dst = dst0 + pipe.stage(tile) * kTokenTile * kLd;
      const int j = jb + tile * kTokenTile + r;
      if (j < je) {
        bulk_copy(dst, base + map(j) * ld, seg_bytes, bar);
      } else if (val) {
#pragma unroll
        for (int c = 0; c < R; c += 8) *reinterpret_cast<uint4*>(dst + c) = make_uint4(0, 0, 0, 0);
      }
    });
  } else {
    const CpAsyncPipeline<2, kLatentMaxStages> pipe{stages, n_tiles};
    attend(pipe, [&](int tile) {
      const int stage = pipe.stage(tile), j0 = jb + tile * kTokenTile;
      // Not load_kv_tile (attention_cta.cuh): through it ptxas gives the R = 64 instances 96
      // registers instead of 94; kept as measured.
      Loader::template load<T, R, kTokenTile, kCtaThreads>(k_s + stage * kTokenTile * kLd, kLd, krows, map, a.ldk,
                                                           cl.k_off, cl.k_len, j0, je, threadIdx.x,
                                                           a.k_contiguous != 0);
      Loader::template load<T, R, kTokenTile, kCtaThreads>(v_s + stage * kTokenTile * kLd, kLd, vrows, map, a.ldv,
                                                           cl.v_off, cl.v_len, j0, je, threadIdx.x,
                                                           a.v_contiguous != 0);
    });
  }
  cta_epilogue<T, R>(a, cl, seq, split, rt, acc, smem_raw, row_end_s);
}

template <class T, int R, class Loader>
cudaError_t set_smem_limit() {
  constexpr bool kSwz = Loader::kSwizzle;
  static const cudaError_t e = cudaFuncSetAttribute(
      latent_attention_kernel<T, R, Loader>, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(latent_smem_bytes<T, R, kSwz>(max_stages<T, R, kSwz>())));
  return e;
}

template <class T, int R, class Loader>
cudaError_t launch(const SplitAttentionArgs& a, int n_seq, cudaStream_t stream) {
  constexpr bool kSwz = Loader::kSwizzle;
  if (a.stages < 2 || a.stages > max_stages<T, R, kSwz>()) return cudaErrorInvalidValue;
  const size_t smem = latent_smem_bytes<T, R, kSwz>(a.stages);
  auto kernel = latent_attention_kernel<T, R, Loader>;
  if (cudaError_t e = set_smem_limit<T, R, Loader>(); e != cudaSuccess) return e;
  const dim3 grid(a.n_splits, a.n_clusters * a.n_row_tiles, n_seq);
  return launch_pdl(kernel, grid, kCtaThreads, smem, stream, a);
}

// Resident CTAs per multiprocessor for `stages` (queried once per instantiation and stage count;
// 0 past max_stages).
template <class T, int R, class Loader>
int ctas_per_sm(int stages) {
  static const auto counts = [] {
    constexpr bool kSwz = Loader::kSwizzle;
    std::array<int, kLatentMaxStages + 1> n{};
    for (int st = 2; st <= max_stages<T, R, kSwz>(); ++st) {
      n[st] = set_smem_limit<T, R, Loader>() != cudaSuccess
                  ? 1
                  : resident_ctas(latent_attention_kernel<T, R, Loader>, kCtaThreads,
                                  latent_smem_bytes<T, R, kSwz>(st));
    }
    return n;
  }();
  return stages >= 2 && stages <= kLatentMaxStages ? counts[stages] : 0;
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
int occupancy_r(int R, int stages) {
  switch (R) {
    case 64: return ctas_per_sm<T, 64, Loader>(stages);
    case 128: return ctas_per_sm<T, 128, Loader>(stages);
    default: return ctas_per_sm<T, 256, Loader>(stages);
  }
}

// dev::with_row_types, plus the bulk-copy (sm_90) and swizzled-tile loaders of this kernel.
template <class Op>
auto with_latent_types(bool f16, LatentRowLoad load, Op&& op) {
  auto with = [&]<class L>() {
    return f16 ? op.template operator()<__half, L>() : op.template operator()<__nv_bfloat16, L>();
  };
  if (load == LatentRowLoad::kBulk) return with.template operator()<dev::BulkRowLoader>();
  if (load == LatentRowLoad::kSwizzled) return with.template operator()<dev::SwizzledRowLoader16>();
  return dev::with_row_types(f16, load == LatentRowLoad::kAsync, op);
}

}  // namespace

cudaError_t launch_latent_attention(const SplitAttentionArgs& a, int n_seq, bool f16, int R, LatentRowLoad load,
                                    cudaStream_t stream) {
  return with_latent_types(f16, load, [&]<class T, class L>() { return launch_r<T, L>(a, n_seq, R, stream); });
}

int latent_attention_ctas_per_sm(bool f16, int R, LatentRowLoad load, int stages) {
  return with_latent_types(f16, load, [&]<class T, class L>() { return occupancy_r<T, L>(R, stages); });
}

}  // namespace lrkv::cuda
