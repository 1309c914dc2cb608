#include "io/safetensors_names.h"

#include <string_view>

namespace lrkv {

namespace {
struct NamePair {
  std::string_view hf, canonical;
};

// Per-layer suffixes (after "model.layers.N." / "blk.N.").
constexpr NamePair kLayer[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

constexpr NamePair kGlobal[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// Splits "<prefix><digits>.<rest>" into the layer number and rest; false if it does not match.
bool split_layer(std::string_view name, std::string_view prefix, std::string_view* num,
                 std::string_view* rest) {
  if (name.substr(0, prefix.size()) != prefix) return false;
  name.remove_prefix(prefix.size());
  size_t i = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
  if (i == 0 || i > 6 || i >= name.size() || name[i] != '.') return false;
  *num = name.substr(0, i);
  *rest = name.substr(i + 1);
  return true;
}

// Maps via kGlobal / kLayer in the direction given by the member pointers.
std::string map_name(const std::string& name, std::string_view NamePair::*from,
                     std::string_view NamePair::*to, std::string_view from_prefix,
                     std::string_view to_prefix) {
  for (const NamePair& p : kGlobal) {
    if (name == p.*from) return std::string(p.*to);
  }
  std::string_view num, rest;
  if (!split_layer(name, from_prefix, &num, &rest)) return {};
  for (const NamePair& p : kLayer) {
    if (rest == p.*from)
      return std::string(to_prefix) + std::string(num) + "." + std::string(p.*to);
  }
  return {};
}
}  // namespace

std::string hf_to_canonical_name(const std::string& hf) {
  return map_name(hf, &NamePair::hf, &NamePair::canonical, "model.layers.", "blk.");
}

std::string canonical_to_hf_name(const std::string& canonical) {
  return map_name(canonical, &NamePair::canonical, &NamePair::hf, "blk.", "model.layers.");
}

bool is_ignored_hf_tensor(const std::string& hf) {
  const std::string_view suffix = "rotary_emb.inv_freq";
  return hf.size() >= suffix.size() &&
         hf.compare(hf.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace lrkv
