// CUDA fused rebuild-keys attention for a batch of sequences: keys are rebuilt from cached key
// latents on the tensor cores, k_j = RoPE_{pos0+j}(B_g c_j + bias) (kernels/rebuild_keys.h),
// scored against the post-RoPE queries and soft-maxed online; values stay latent and are
// absorbed (z as in kernels/latent_attention.h). Nothing but z is written to memory.
//
// att: queries (qk = post-RoPE q, qk_off[h] = offset of head h, usually h * head_dim), q_pos,
//      values (v, ldv, v_type, v_off/v_len per head = the head's group value latent), z, z_off,
//      scale; att.k/k_off/k_len are ignored.
// keys: c (key latent rows, same dtype as v), ldc, group tables, up[g] = B_g (f32, DEVICE
//      pointers in a HOST array), bias (device, or null), head_dim, inv_freq (device), layout,
//      pos0; keys.k/ldk/n_rows are ignored.
// Query head h uses KV head h / (n_head / n_kv_head), whose rows of B_g are rebuilt.
// Supported (kUnsupported otherwise): f16/bf16 latents, head_dim in {64, 80, 96, 128}, ranks
// and value widths <= 128, at most 16 query heads per KV head, n_head <= 64.
// The kernel reads q_pos, the block tables and the weights (B_g, bias, inv_freq) before its
// programmatic-dependent-launch wait: they must not come from the kernel launched just before.
#pragma once

#include <cuda_runtime.h>

#include "core/status.h"
#include "kernels/latent_attention.h"
#include "kernels/rebuild_keys.h"

namespace lrkv::cuda {

struct RebuildAttentionBatch {
  LatentAttentionParams att;
  RebuildKeysParams keys;
  int n_kv_head = 0;
  int n_seq = 1;
  int64_t q_seq = 0, c_seq = 0, v_seq = 0, z_seq = 0;  // per-sequence strides (elements)
  SeqRowMaps maps;  // paged caches: latent / value row j of sequence b is row maps.seq(b)(j)
  int max_kv = 0;                                       // host: >= max(q_pos) + 1
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // As LatentAttentionBatch::early_rows: the queries are each sequence's new rows, in order, so
  // tiles of older latent rows may be copied before the wait for the preceding kernel.
  bool early_rows = false;
};

Result<size_t> rebuild_attention_workspace_bytes(const RebuildAttentionBatch& b);
Status rebuild_attention(const RebuildAttentionBatch& b, cudaStream_t stream);

}  // namespace lrkv::cuda
