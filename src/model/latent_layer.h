// The runtime form of one compressed attention layer, built from the model's RankPlan and its
// lrkv factor tensors. Factor tensor names in model files (L = layer, G = group index):
//   blk.L.lrkv.k_down       [Σ r_k, d]   key latent from the layer input     (rebuild mode)
//   blk.L.lrkv.k_down_bias  [Σ r_k]      optional
//   blk.L.lrkv.k_up.G       [s*hd, r_k]  key rebuild of group G, before RoPE  (rebuild mode)
//   blk.L.lrkv.k_up_bias    [kv_dim]     optional pre-RoPE offset (e.g. Qwen2's k bias)
//   blk.L.lrkv.k_proj.G     [s*hd, r_k]  orthonormal basis P of post-RoPE keys (absorbed mode)
//   blk.L.lrkv.k_mean       [kv_dim]     optional post-RoPE mean subtracted before projecting
//   blk.L.lrkv.v_down       [Σ r_v, d]   value latent from the layer input
//   blk.L.lrkv.v_down_bias  [Σ r_v]      optional
//   blk.L.lrkv.v_up.G       [s*hd, r_v]  value rebuild of group G (folded into W_o at load)
//   blk.L.lrkv.v_up_bias    [kv_dim]     optional value offset (folded into an output bias)
// Maths per query head h in group g (head h reads rows hd*(kvh(h)-g0) .. of the group's blocks):
//   rebuild:  k_j = RoPE_j(B_k,g c_k,g,j + b);  s_j = q_h · k_j[h rows]
//   absorbed: c_k,g,j = P_gᵀ (RoPE_j(k_j) - mu);  s_j = (P_g[h rows]ᵀ q_h) · c_k,g,j
//             (the dropped term q_h · mu is the same for every j: softmax ignores it)
//   values:   z_h = Σ_j softmax(s)_j c_v,g,j;  out = Σ_h W_o,h (B_v,g[h rows] z_h + b_v[h]).
#pragma once

#include <vector>

#include "core/tensor.h"
#include "model/rank_plan.h"

namespace lrkv {

struct Model;

struct LatentLayer {
  KeyMode key_mode = KeyMode::kRebuild;
  std::vector<GroupPlan> groups;
  int k_width = 0, v_width = 0;      // cache row widths Σ r_k, Σ r_v
  // Per query head h: its group and the offsets/lengths used by latent attention.
  std::vector<int> head_group;       // [n_head]
  std::vector<int> k_off, k_len;     // [n_head] K-row segment (absorbed: group latent)
  std::vector<int> v_off, v_len;     // [n_head] V-row segment (group latent)
  std::vector<int> z_off;            // [n_head] offset of z_h in the attention output
  int z_width = 0;                   // Σ_h r_v(g(h))
  std::vector<int> qk_off;           // [n_head] absorbed: offset of q̃_h
  int qk_width = 0;                  // Σ_h r_k(g(h))
  std::vector<int> group_row_off;    // [groups] first row (in kv_dim) of each group's block
  std::vector<int> group_lat_k, group_lat_v;  // [groups] latent column offsets
  // Factors (f32).
  Tensor k_down, k_down_bias, k_up_bias, k_mean;
  std::vector<Tensor> k_up, k_proj;  // per group [s*hd, r_k]
  std::vector<Tensor> k_proj_t;      // per group Pᵀ [r_k, s*hd] (absorbed: projection as a GEMM)
  Tensor v_down, v_down_bias;
  std::vector<Tensor> v_up;          // per group (kept for reference paths and tests)
  Tensor wo_folded;                  // [d_model, z_width]
  Tensor o_bias;                     // [d_model] or empty
};

// The compressed model's plan (Model::compression); kNotFound when the model is not compressed.
Result<RankPlan> model_rank_plan(const Model& m);
// Builds and validates every layer's factors (shapes against the plan; errors name the tensor).
Result<std::vector<LatentLayer>> build_latent_layers(const Model& m, const RankPlan& plan);

// Rounds the factors an engine multiplies as weight matrices (k_down, k_proj, k_proj_t, v_down,
// wo_folded; not biases, means or the rebuild k_up) to the values of `type` (f16 or bf16; the
// tensors stay f32), as the CUDA engine stores them beside 16-bit weights; f32 leaves them as they
// are. All or nothing: a value outside `type`'s range is an error naming the layer and tensor, and
// `layers` is then unchanged.
Status round_factors(std::vector<LatentLayer>& layers, DType type);

// Canonical factor tensor name, e.g. factor_name(3, "k_up", 1) = "blk.3.lrkv.k_up.1".
std::string factor_name(int layer, const char* what, int group = -1);

}  // namespace lrkv
