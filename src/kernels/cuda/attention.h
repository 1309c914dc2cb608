// CUDA dense-cache attention (semantics of AttentionParams, kernels/attention.h) for a batch of
// sequences: split-K flash-decoding (n_q = 1) and tiled online-softmax prefill, through the
// latent-attention kernels with head_dim segments (kv head g = h / (n_head / n_kv_head)).
// q, q_pos, k, v, out and the workspace are DEVICE pointers; kv_type f16 or bf16; head_dim <= 256.
#pragma once

#include <cuda_runtime.h>

#include "core/status.h"
#include "kernels/attention.h"
#include "kernels/cuda/latent_attention.h"

namespace lrkv::cuda {

// n_seq problems of one shape: sequence b reads q + b * q_seq, q_pos + b * n_q, k/v + b * kv_seq
// and writes out + b * out_seq (strides in elements).
struct AttentionBatch {
  AttentionParams p;
  int n_seq = 1;
  int64_t q_seq = 0, kv_seq = 0, out_seq = 0;
  int max_kv = 0;  // host: >= max(q_pos) + 1 over the batch
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  AttentionKernel kernel = AttentionKernel::kAuto;  // latent_attention.h
};

Result<size_t> attention_workspace_bytes(const AttentionBatch& b);
Status attention(const AttentionBatch& b, cudaStream_t stream);

}  // namespace lrkv::cuda
