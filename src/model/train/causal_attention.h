// Full causal attention over whole sequences, forward and backward, for training (fp32).
// Works in an "attention space" described by AttnLayout: every query head h reads its own slice
// of q, its KV head g = h / group reads slices of k and v, and head h writes its slice of z.
// Slices may be narrower than head_dim (MatryoshkaKV projections: keys/queries of rank r_k(g),
// values of rank r_v(g)); the dense layout is plain q [T, q_dim], k, v [T, kv_dim], z [T, q_dim].
//   S = scale · Q_h K_gᵀ (j ≤ i only),  P = softmax_rows(S),  Z_h = P V_g,
//   lse[h, t] = log Σ_j exp(S_tj) is saved so backward recomputes P without storing it.
// Cost: per sequence of n rows and head, GEMMs of about (n²/2 + 64·n)·(w_k + w_v) MACs forward
// (query rows in blocks of 128 see only the keys up to the block's end), twice that backward;
// scratch 2·128·n floats. GEMMs run on the calling thread.
#pragma once

#include <cstdint>
#include <vector>

#include "model/llama_config.h"

namespace lrkv {

struct AttnLayout {
  int n_head = 0, n_kv_head = 0, head_dim = 0;
  std::vector<int> k_width, v_width;  // [n_kv_head] widths of a KV head's key / value slice
  std::vector<int64_t> q_off, z_off;  // [n_head] column of query head h's slice in q / z
  std::vector<int64_t> k_off, v_off;  // [n_kv_head] column of KV head g's slice in k / v
  int64_t q_ld = 0, k_ld = 0, v_ld = 0, z_ld = 0;  // row strides (total widths)
  int group() const { return n_head / n_kv_head; }
};

// q [T, q_dim], k/v [T, kv_dim], z [T, q_dim] with head_dim-wide slices.
AttnLayout dense_attn_layout(const LlamaConfig& cfg);
// Packed slices of widths rank_k[g] / rank_v[g] (per KV head), heads in order.
AttnLayout projected_attn_layout(const LlamaConfig& cfg, const std::vector<int>& rank_k,
                                 const std::vector<int>& rank_v);

struct SeqRange {
  int64_t begin = 0, n = 0;  // rows [begin, begin + n) form one sequence at positions 0..n-1
};

// z = attention(q, k, v) per sequence and head; lse [n_head, T].
void causal_attention_forward(const AttnLayout& L, const std::vector<SeqRange>& seqs, int64_t T,
                              float scale, const float* q, const float* k, const float* v, float* z,
                              float* lse);

// Given dz = dL/dz, writes dq, dk, dv (overwritten, same layouts as q, k, v). z and lse are the
// forward's outputs.
void causal_attention_backward(const AttnLayout& L, const std::vector<SeqRange>& seqs, int64_t T,
                               float scale, const float* q, const float* k, const float* v,
                               const float* z, const float* lse, const float* dz, float* dq,
                               float* dk, float* dv);

}  // namespace lrkv
