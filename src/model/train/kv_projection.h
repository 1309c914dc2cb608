// MatryoshkaKV projections (METHODS.md section 4) as a trainable module of the training forward.
// Per (layer, KV head g) with U_K, U_V [d_h, d_h] and means mu_K, mu_V [d_h], ranks r_k, r_v:
//   k' = (k_rope − mu_K) U_K[:, :r_k]          q'_h = q_rope,h U_K[:, :r_k]  (every query head h
//   v' = (v − mu_V) U_V[:, :r_v]                                             of g's group)
//   attention on (q', k', v') with the original scale 1/sqrt(d_h);  z' = P v'
//   out_h = z'_h U_V[:, :r_v]ᵀ + mu_V
// The paper's score term q_rope·mu_K is constant over keys, so softmax cancels it: mu_K has no
// effect on the output (its gradient is zero) unless latents are quantized. U need not be
// orthogonal here; a Cayley parameterisation is the tuner's business (chain rule through dU).
// "Head" means KV head: with GQA the query heads of a group share their KV head's U_K.
#pragma once

#include <vector>

#include "model/llama_config.h"
#include "model/train/causal_attention.h"

namespace lrkv {

struct KvHeadProjection {
  std::vector<float> u_k, u_v;    // [d_h, d_h] row-major; column c is direction c
  std::vector<float> mu_k, mu_v;  // [d_h]
  int rank_k = 0, rank_v = 0;     // columns in use, 1..d_h (settable per step)
};

// Also used for gradients (same shapes; columns >= rank hold zeros there).
struct KvProjections {
  int n_layer = 0, n_kv_head = 0, head_dim = 0;
  std::vector<KvHeadProjection> heads;  // [n_layer * n_kv_head], index layer * n_kv_head + g

  KvHeadProjection& at(int layer, int g) {
    return heads[static_cast<size_t>(layer) * n_kv_head + g];
  }
  const KvHeadProjection& at(int layer, int g) const {
    return heads[static_cast<size_t>(layer) * n_kv_head + g];
  }
  // U = I, mu = 0, full rank: the projected forward equals the plain one.
  static KvProjections identity(const LlamaConfig& cfg);
  // All zeros, ranks copied from `like` (a gradient accumulator).
  static KvProjections zeros_like(const KvProjections& like);
  // Shapes match `cfg`, ranks within 1..d_h, values finite.
  Status validate(const LlamaConfig& cfg) const;
  // Ranks of `layer` per KV head, for projected_attn_layout.
  std::vector<int> ranks_k(int layer) const;
  std::vector<int> ranks_v(int layer) const;
};

// Forward, one layer, T rows: qa, ka, va (layout L) from post-RoPE q [T, q_dim], k, v [T, kv_dim].
void kv_project_inputs(const KvProjections& P, int layer, const AttnLayout& L, int64_t T,
                       const float* q, const float* k, const float* v, float* qa, float* ka,
                       float* va);
// Forward: att [T, q_dim] = per head za_h U_V[:, :r]ᵀ + mu_V.
void kv_project_output(const KvProjections& P, int layer, const AttnLayout& L, int64_t T,
                       const float* za, float* att);

// Backward of kv_project_output: dza from datt; accumulates dU_V, dmu_V into `grads`.
void kv_project_output_backward(const KvProjections& P, int layer, const AttnLayout& L, int64_t T,
                                const float* za, const float* datt, float* dza,
                                KvProjections& grads);
// Backward of kv_project_inputs: dq, dk, dv (overwritten) from dqa, dka, dva; accumulates dU_K,
// dU_V, dmu_K, dmu_V into `grads`.
void kv_project_inputs_backward(const KvProjections& P, int layer, const AttnLayout& L, int64_t T,
                                const float* q, const float* k, const float* v, const float* dqa,
                                const float* dka, const float* dva, float* dq, float* dk, float* dv,
                                KvProjections& grads);

}  // namespace lrkv
