// Parameters of segment_project (segment_project.h), kept free of Status/fmt so the .cu sees
// only this.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/quant_encode_args.h"

namespace lrkv::cuda {

constexpr int kSegProjMaxSegments = 128;
constexpr int kSegProjMaxIn = 4096;  // inputs per segment (staged in shared memory)
constexpr int64_t kSegProjMaxRows = int64_t{65535} * 8;  // grid z = row tiles of 8

struct SegmentProjectParams {
  const float* x = nullptr;  // [rows, ldx]
  int64_t ldx = 0;
  int64_t rows = 0;
  float* y = nullptr;        // [rows, ldy]; written, not accumulated
  int64_t ldy = 0;
  DType w_type = DType::kF32;
  int n_seg = 0;
  const void* w[kSegProjMaxSegments] = {};
  int ldw[kSegProjMaxSegments] = {};
  int in_len[kSegProjMaxSegments] = {};
  int out_len[kSegProjMaxSegments] = {};
  int x_off[kSegProjMaxSegments] = {};
  int y_off[kSegProjMaxSegments] = {};
  // Segments with pair[s] = 1 read x2 and write y2 instead (offsets relative to those): two
  // projections of different activations in one launch (key latents from k, query absorption
  // from q).
  const float* x2 = nullptr;  // [rows, ldx2]
  int64_t ldx2 = 0;
  float* y2 = nullptr;        // [rows, ldy2]
  int64_t ldy2 = 0;
  uint8_t pair[kSegProjMaxSegments] = {};
  // Fused absorption (decode steps of absorbed latents): with rope.pos set, every staged input
  // row is rotated first, the values rope_qk would have written into x and x2 (which stay as
  // they are here):
  //   x[t, c]  <- RoPE(x[t], pos[t])[c] - x_mean[c]     (x_mean optional, first pair only)
  //   x2[t, c] <- RoPE(x2[t], pos[t])[c]
  // over heads of head_dim columns from column 0 of a row, so segments must cover whole heads.
  // With y_cache.dst set, the first pair's outputs also go into that cache (column y_off[s] + j
  // of row t; y_cache.src is not read), and with v_cache.dst set the grid also copies
  // v_cache.src into its cache: RoPE, both absorptions and both cache writes in one launch.
  struct Rope {
    const int* pos = nullptr;         // [rows] device; null: inputs as they are
    const float* inv_freq = nullptr;  // [head_dim / 2] device
    const float* x_mean = nullptr;    // [ldx] device, or null
    int head_dim = 0;
    int half_split = 0;               // 1: pairs (i, i + head_dim / 2), 0: (2i, 2i + 1)
  } rope;
  CacheWriteParams y_cache, v_cache;
  // Quantized latent caches instead: with k_enc.dst set, segment s < k_enc.n_seg (first pair, s in
  // order; k_enc.src = y, seg_col[s] = y_off[s], seg_len[s] = out_len[s]) is encoded into the byte
  // cache by whichever CTA of (segment, row tile) finishes last, found through `counters` (zero
  // before the launch, zero again after it); with v_enc.dst set, the grid's warps encode v_enc's
  // rows (the value latents) too. quant_encode.cuh does the encoding, as the encoder kernel does.
  EncodeArgs k_enc, v_enc;
  unsigned* counters = nullptr;  // [n_counters] device
  int n_counters = 0;
};
// Over the 4 KB of older CUDA versions: CUDA 12.1 and later take 32,764 bytes of kernel
// parameters on Volta and newer (the build needs the CUDA 13 toolkit and targets sm_80/sm_90).
static_assert(sizeof(SegmentProjectParams) <= 32764, "kernel parameter limit");

// The launch behind segment_project (segment_project.cu), parameters already checked;
// max_in / max_out = the largest in_len / out_len.
cudaError_t launch_segment_project(const SegmentProjectParams& p, int max_in, int max_out, cudaStream_t stream);

}  // namespace lrkv::cuda
