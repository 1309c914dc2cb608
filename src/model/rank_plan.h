// RankPlan: how a compressed model's KV cache is laid out — per layer, per group of consecutive
// KV heads, the latent rank kept for keys (rank_k) and values (rank_v) — plus the method that
// produced the factors and how keys are read at attention time. A compressed model carries it in
// Model::compression (stored as JSON by io/compression_metadata.h); `lrkv plan` writes it to a file
// that `lrkv compress --plan` reads.
//
// Budget = kept fraction of the dense KV cache: sum over layers and groups of (rank_k + rank_v)
// divided by 2 * n_layer * n_kv_head * head_dim (same element type on both sides).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/status.h"
#include "model/llama_config.h"

namespace lrkv {

// How attention reads the key latents.
//  kRebuild:  latent computed from the layer input before RoPE (c = A x); keys rebuilt inside
//             attention, k = RoPE_pos(B c) (Palu, LoRC).
//  kAbsorbed: latent computed from post-RoPE keys (c = Pᵀ(k_rope - mu)); queries are projected
//             into the latent space (q̃ = Pᵀ q) and attention runs on the latents (MatryoshkaKV PCA).
// Values are always absorbed: their up-projection is folded into W_o.
enum class KeyMode { kRebuild, kAbsorbed };
const char* key_mode_name(KeyMode m);

struct GroupPlan {
  int kv_head_begin = 0;  // first KV head of the group
  int n_kv_heads = 1;     // s
  int rank_k = 0;         // in [1, s * head_dim]
  int rank_v = 0;
};

struct LayerPlan {
  std::vector<GroupPlan> groups;  // tile [0, n_kv_head) in order
};

struct RankPlan {
  std::string method;       // "palu", "lorc", "mkv-pca", ...
  std::string granularity;  // "head", "group:S", "joint"
  std::string planner = "uniform";
  double budget = 1.0;      // the requested budget
  KeyMode key_mode = KeyMode::kRebuild;
  // The latent quantisation a byte budget was planned for (`lrkv plan --latent-bits`); 0 = float
  // latents (budget in kept dimensions). Written to the JSON only when set.
  int latent_bits = 0, latent_group = 32;
  bool latent_symmetric = false;
  std::vector<LayerPlan> layers;

  int64_t latent_values_per_token() const;        // Σ (rank_k + rank_v) over layers and groups
  double kept_fraction(const LlamaConfig& cfg) const;  // achieved budget
  // Groups tile the heads, ranks within [1, s*head_dim], layer count matches. Errors name `source`.
  Status validate(const LlamaConfig& cfg, const std::string& source) const;
  nlohmann::json to_json() const;
  static Result<RankPlan> from_json(const nlohmann::json& j, const std::string& source);
  static Result<RankPlan> parse(const std::string& text, const std::string& source);
};

// "head" -> 1, "joint" -> n_kv_head, "group:S" -> S (must divide n_kv_head).
Result<int> parse_granularity(const std::string& g, int n_kv_head);

// Uniform allocation: every group keeps the same fraction of its dimensions for K and V; the
// total Σ (rank_k + rank_v) equals round(budget * 2 * n_layer * kv_dim) exactly (rounding
// leftovers are spread one at a time over the groups in order), each rank within [1, s*hd].
// The method's key mode comes from the method table (compress/methods.h, which also has the
// overload without it).
Result<RankPlan> uniform_plan(const LlamaConfig& cfg, const std::string& method, KeyMode key_mode,
                              const std::string& granularity, double budget);

}  // namespace lrkv
