// Kernel-side description of one launch of the split-K attention kernels (latent attention,
// dense attention through it, and rebuild-keys attention): plain data passed by value as the
// kernel parameter (static_assert keeps it under the 4 KB parameter limit). Built by the host
// planners in latent_attention.cpp / rebuild_attention.cpp; kernels know pointers and shapes only.
//
// Work decomposition (grid = [n_splits, n_clusters * n_row_tiles, n_seq], 128 threads):
//  - a cluster is a run of consecutive query heads that read the same K and V segments of every
//    cached row (GQA heads of one KV head, heads of one latent group), at most kRowsPerCta heads;
//  - its rows are (query t, head) pairs, row i = t * n_heads + (head - head0), 16 per CTA;
//  - a split is a chunk of cache rows [split * chunk, +chunk); each CTA streams its chunk in
//    tiles of kTokenTile rows, one 16-row slice per warp, with an online softmax per warp.
//  - n_splits > 1: each CTA writes its unnormalised output and (max, sum) to the workspace and
//    split_merge combines them; n_splits == 1: the CTA writes z directly.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/row_map.h"

namespace lrkv::cuda {

inline constexpr int kMaxHeads = 64;
inline constexpr int kMaxClusters = 64;
inline constexpr int kRowsPerCta = 16;
inline constexpr int kPrefillRows = 64;  // prefill_attention.cu: query rows per CTA (16 per warp)
inline constexpr int kTokenTile = 64;
inline constexpr int kCtaThreads = 128;
// Deepest cp.async pipeline of the split-K latent kernel (R <= 128; R = 256 fits 3 stages).
inline constexpr int kLatentMaxStages = 6;

struct ClusterDesc {
  int k_off = 0, k_len = 0;  // key segment of each cached row (absorbed/dense: keys; rebuild: latent)
  int v_off = 0, v_len = 0;  // value segment
  int head0 = 0, n_heads = 0;
  int bias_off = 0;          // rebuild: first column of this KV head in the bias vector
  const float* up = nullptr; // rebuild: [head_dim, k_len] rows of B_g for this KV head (f32)
};

struct SplitAttentionArgs {
  // Queries (f32, device): row t of sequence b at q + b * q_seq + t * ldq; head h at qk_off[h].
  const float* q = nullptr;
  int64_t ldq = 0, q_seq = 0;
  const int* q_pos = nullptr;  // [n_seq * n_q] positions; row t sees cache rows 0..q_pos[t]
  int n_q = 0;
  int q_len = 0;               // rebuild: head_dim (absorbed: cluster k_len is used)
  float qscale = 1.0f;         // softmax scale * log2(e)
  // Cached rows (f16/bf16, device): row j of sequence b at k + b * k_seq + j * ldk, or, paged
  // (maps.paged()), at k + maps.seq(b)(j) * ldk (k_seq, v_seq unused).
  const void* k = nullptr;
  int64_t ldk = 0, k_seq = 0;
  const void* v = nullptr;
  int64_t ldv = 0, v_seq = 0;
  SeqRowMaps maps;
  // Rebuild only.
  const float* inv_freq = nullptr;  // [head_dim / 2]
  const float* bias = nullptr;      // pre-RoPE key offset [kv_dim] or null
  int pos0 = 0;                     // position of cache row 0
  int rope_half_split = 0;
  // Output z (f32): row t, head h at z + b * z_seq + t * ldz + z_off[h], v_len values.
  float* z = nullptr;
  int64_t ldz = 0, z_seq = 0;
  // Split-K.
  int chunk = 0, n_splits = 1, n_row_tiles = 1, n_clusters = 0;
  int stages = 2;          // latent kernel: shared-memory tiles in flight + 1 (2..kLatentMaxStages)
  // Latent kernel: 1 when every cached row below q_pos[b * n_q] (sequence b's first query) was
  // written before the kernels of this step, so a CTA may load such rows before it waits for its
  // predecessor (programmatic dependent launch); 0: every read waits.
  int early_rows = 0;
  int k_contiguous = 0, v_contiguous = 0;  // ldk == k_len (ldv == v_len) for every cluster
  float* ws_o = nullptr;   // [n_seq, units, n_splits, 16, R]
  float* ws_ml = nullptr;  // [n_seq, units, n_splits, 16, 2]
  int qk_off[kMaxHeads] = {};
  int z_off[kMaxHeads] = {};
  ClusterDesc clusters[kMaxClusters];
};
static_assert(sizeof(SplitAttentionArgs) <= 4000, "kernel parameter limit");

// How the latent kernel brings cached rows into shared memory: 2-byte loads (any alignment);
// 16-byte cp.async into padded tile rows (segments, strides and bases 16-byte aligned); the same
// into unpadded swizzled rows (tile_swizzle.cuh: less shared memory per CTA); one cp.async.bulk
// per row segment through mbarrier stages (bulk_pipeline.cuh; compute capability >= 9.0 running
// the sm_90 code, 16-byte aligned segments of multiples of 8 values).
enum class LatentRowLoad { kScalar, kAsync, kSwizzled, kBulk };

// Launchers (latent_attention.cu / rebuild_attention.cu / split_merge.cu). `R` is the padded
// latent width (64, 128 or 256) the kernel is instantiated for; `vec_loads` selects 16-byte
// cp.async row loads (segments, strides and bases 16-byte aligned) over scalar loads.
cudaError_t launch_latent_attention(const SplitAttentionArgs& a, int n_seq, bool f16, int R, LatentRowLoad load,
                                    cudaStream_t stream);
// Resident CTAs per multiprocessor with `stages` pipeline stages; 0 when they do not fit.
int latent_attention_ctas_per_sm(bool f16, int R, LatentRowLoad load, int stages);
// Prefill chunks (prefill_attention.cu): n_row_tiles counts kPrefillRows-row tiles, n_splits 1.
cudaError_t launch_prefill_attention(const SplitAttentionArgs& a, int n_seq, bool f16, int R, bool vec_loads,
                                     cudaStream_t stream);
int prefill_attention_ctas_per_sm(bool f16, int R, bool vec_loads);
// head_dim in {64, 80, 96, 128}; R in {64, 128}.
cudaError_t launch_rebuild_attention(const SplitAttentionArgs& a, int n_seq, bool f16, int R, int head_dim,
                                     bool vec_loads, cudaStream_t stream);
int rebuild_attention_ctas_per_sm(bool f16, int R, int head_dim, bool vec_loads);
cudaError_t launch_split_merge(const SplitAttentionArgs& a, int n_seq, int R, cudaStream_t stream);

}  // namespace lrkv::cuda
