// Split-K latent attention over quantized cached rows (quant_latent_attention.h), first version
// (any format: f16 tiles): the structure of latent_attention.cu (one CTA = 16 (query, head) rows
// of a head cluster x one split of the cached rows, 64-row tiles, 4 warps of 16 rows, online
// softmax, split merge), with packed bytes in the pipelined stages and a per-warp dequantisation
// into f16 tiles before the tensor cores. The register-fragment kernel for 2/4/8 bits is in
// quant_frag_attention.cu, the device encoder in quant_encode.cu.
#include "kernels/cuda/attention_cta.cuh"
#include "kernels/cuda/occupancy.h"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/pipeline.cuh"
#include "kernels/cuda/quant_attention_args.h"
#include "kernels/cuda/quant_row_loader.cuh"

namespace lrkv::cuda {
namespace {

constexpr int kWarps = kCtaThreads / 32;

template <int R>
__global__ void __launch_bounds__(kCtaThreads) quant_latent_attention_kernel(const __grid_constant__ QuantAttentionArgs qa) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  using namespace dev;
  using T = __half;
  constexpr int kLd = R + 8;
  const SplitAttentionArgs& a = qa.a;
  const int stages = a.stages;
  extern __shared__ uint4 smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);  // query hi, then lo halves
  T* ql_s = q_s + kRowsPerCta * kLd;
  T* dec_s = ql_s + kRowsPerCta * kLd;  // per warp: K tile [16][kLd], V tile [16][kLd]
  uint8_t* kraw = reinterpret_cast<uint8_t*>(dec_s + kWarps * 2 * 16 * kLd);
  uint8_t* vraw = kraw + stages * qa.k.stage_bytes;
  __shared__ int row_end_s[kRowsPerCta];

  const CtaPos pos = cta_pos(a);
  const int split = pos.split, seq = pos.seq, rt = pos.rt;
  const ClusterDesc& cl = *pos.cl;
  load_row_ends(a, cl, seq, rt, row_end_s);
  stage_queries<T, R>(a, cl, seq, rt, cl.k_len, q_s, ql_s, kLd);
  __syncthreads();
  const int jb = split * a.chunk, je = split_end(a, row_end_s, jb);
  if (jb >= je) {
    cta_empty(a, seq, split);
    return;
  }
  const uint8_t* krows = seq_rows<uint8_t>(a, a.k, a.k_seq, seq) + cl.k_off;
  const uint8_t* vrows = seq_rows<uint8_t>(a, a.v, a.v_seq, seq) + cl.v_off;
  const RowMap map = a.maps.seq(seq);
  const int kseg = quant_seg_bytes(cl.k_len, qa.k), vseg = quant_seg_bytes(cl.v_len, qa.v);
  const int n_tiles = (je - jb + kTokenTile - 1) / kTokenTile;
  const CpAsyncPipeline<2, 3> pipe{stages, n_tiles};
  const RawTileCopy kcopy = raw_tile_copy(qa.k, kseg, threadIdx.x), vcopy = raw_tile_copy(qa.v, vseg, threadIdx.x);
  auto load_tile = [&](int tile) {
    const int stage = pipe.stage(tile), j0 = jb + tile * kTokenTile;
    load_raw_tile(kraw + stage * qa.k.stage_bytes, qa.k, krows, map, a.ldk, kseg, j0, je, threadIdx.x, kcopy);
    load_raw_tile(vraw + stage * qa.v.stage_bytes, qa.v, vrows, map, a.ldv, vseg, j0, je, threadIdx.x, vcopy);
  };
  pipe.prime(load_tile);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2;
  const int lim0 = min(row_end_s[g], je), lim1 = min(row_end_s[g + 8], je);
  const int no_mask_below = cta_min_limit(row_end_s, je);
  const int k16 = (cl.k_len + 15) / 16, v16 = (cl.v_len + 15) / 16;
  const DecodeLane dk = decode_lane(qa.k, cl.k_len, lane), dv = decode_lane(qa.v, cl.v_len, lane);
  T* kdec = dec_s + warp * 2 * 16 * kLd;
  T* vdec = kdec + 16 * kLd;
  decode_zero_pad(kdec, kLd, dk);
  decode_zero_pad(vdec, kLd, dv);
  WarpAttention<T, R> acc;
  acc.init();
  for (int it = 0; it < n_tiles; ++it) {
    const int stage = pipe.advance(it, load_tile);
    const int tok0 = jb + it * kTokenTile + warp * 16;
    if (tok0 < je) {
      decode_warp(kdec, kLd, kraw + stage * qa.k.stage_bytes + warp * 16 * qa.k.raw_ld, qa.k, dk);
      decode_warp(vdec, kLd, vraw + stage * qa.v.stage_bytes + warp * 16 * qa.v.raw_ld, qa.v, dv);
      __syncwarp();
      float s[2][4];
      warp_scores<T, R>(s, q_s, ql_s, kLd, kdec, kLd, k16);
      if (tok0 + 16 > no_mask_below) mask_scores(s, tok0, lim0, lim1);
      acc.add(s, vdec, kLd, v16);
    }
  }
  pipe.drain();
  cta_epilogue<T, R>(a, cl, seq, split, rt, acc, smem_raw, row_end_s);
}

template <int R>
cudaError_t set_smem_limit() {
  static const cudaError_t e = cudaFuncSetAttribute(quant_latent_attention_kernel<R>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(quant_attention_smem_limit()));
  return e;
}

template <int R>
cudaError_t launch(const QuantAttentionArgs& qa, int n_seq, size_t smem, cudaStream_t stream) {
  if (qa.a.stages != 2 && qa.a.stages != 3) return cudaErrorInvalidValue;
  if (cudaError_t e = set_smem_limit<R>(); e != cudaSuccess) return e;
  const dim3 grid(qa.a.n_splits, qa.a.n_clusters * qa.a.n_row_tiles, n_seq);
  return launch_pdl(quant_latent_attention_kernel<R>, grid, kCtaThreads, smem, stream, qa);
}

template <int R>
int occupancy(size_t smem) {
  if (set_smem_limit<R>() != cudaSuccess) return 1;
  return resident_ctas(quant_latent_attention_kernel<R>, kCtaThreads, smem);
}

}  // namespace

size_t quant_attention_smem_bytes(int R, int stages, const QuantSide& k, const QuantSide& v) {
  const size_t ld = size_t(R) + 8;
  const size_t tiles = sizeof(__half) * (2 * kRowsPerCta + 2 * kWarps * 16) * ld;
  const size_t epilogue = sizeof(float) * 4 * kRowsPerCta * (size_t(R) + 4);
  const size_t raw = size_t(stages) * (size_t(k.stage_bytes) + size_t(v.stage_bytes));
  return (tiles > epilogue ? tiles : epilogue) + raw;
}

// Dynamic shared memory a CTA may ask for: the opt-in maximum less the kernel's static shared
// arrays (row ends, epilogue m/l; the same for every R), which count against the same limit.
size_t quant_attention_smem_limit() {
  static const size_t limit = [] {
    int dev = 0, v = 0;
    cudaFuncAttributes fa{};
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess ||
        cudaFuncGetAttributes(&fa, quant_latent_attention_kernel<256>) != cudaSuccess) {
      (void)cudaGetLastError();
      return size_t{48 * 1024} - size_t{1024};
    }
    return static_cast<size_t>(v) - fa.sharedSizeBytes;
  }();
  return limit;
}

cudaError_t launch_quant_latent_attention(const QuantAttentionArgs& qa, int n_seq, int R, size_t smem,
                                          cudaStream_t stream) {
  switch (R) {
    case 64: return launch<64>(qa, n_seq, smem, stream);
    case 128: return launch<128>(qa, n_seq, smem, stream);
    case 256: return launch<256>(qa, n_seq, smem, stream);
    default: return cudaErrorInvalidValue;
  }
}

int quant_latent_attention_ctas_per_sm(int R, size_t smem) {
  switch (R) {
    case 64: return occupancy<64>(smem);
    case 128: return occupancy<128>(smem);
    default: return occupancy<256>(smem);
  }
}

}  // namespace lrkv::cuda
