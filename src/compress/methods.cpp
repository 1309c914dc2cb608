#include "compress/methods.h"

#include <algorithm>

namespace lrkv {

namespace {

// group:s for the largest divisor s <= want of n_kv_head ("head" for 1, "joint" for all).
std::string group_default(const LlamaConfig& cfg, int want) {
  int s = std::min(want, cfg.n_kv_head);
  while (s > 1 && cfg.n_kv_head % s != 0) --s;
  return s == 1 ? "head" : (s == cfg.n_kv_head ? "joint" : "group:" + std::to_string(s));
}

std::vector<MethodDesc> make_table() {
  const std::vector<std::string> all = {"uniform", "progressive", "fisher", "energy", "greedy-kl"};
  std::vector<MethodDesc> t;
  t.push_back({"palu", "whitened SVD of W_k/W_v, keys rebuilt before RoPE (Palu)", Factoriser::kWhitenedSvd,
               KeyMode::kRebuild, true, true, true, [](const LlamaConfig& c) { return group_default(c, 4); }, all});
  t.push_back({"lorc", "plain SVD of W_k/W_v, no calibration (LoRC)", Factoriser::kPlainSvd, KeyMode::kRebuild,
               false, true, true, [](const LlamaConfig& c) { return group_default(c, c.n_kv_head); }, all});
  t.push_back({"mkv-pca", "PCA of post-RoPE keys and of values per head (MatryoshkaKV init)",
               Factoriser::kActivationPca, KeyMode::kAbsorbed, true, true, true,
               [](const LlamaConfig&) { return std::string("head"); }, all});
  t.push_back({"mkv", "MatryoshkaKV projections trained by distillation (lrkv tune)", Factoriser::kTrained,
               KeyMode::kAbsorbed, false, true, false, [](const LlamaConfig&) { return std::string("head"); },
               all});
  t.push_back({"gqa", "MHA->GQA: merge g = 1/budget KV heads by activation PCA (RoPE-commuting for keys)",
               Factoriser::kHeadMerge, KeyMode::kRebuild, true, false, true,
               [](const LlamaConfig&) { return std::string(); }, {}});
  return t;
}

}  // namespace

const std::vector<MethodDesc>& methods() {
  static const std::vector<MethodDesc> t = make_table();
  return t;
}

std::string method_names(const std::function<bool(const MethodDesc&)>& keep) {
  std::string s;
  for (const MethodDesc& m : methods()) {
    if (!keep || keep(m)) s += (s.empty() ? "" : ", ") + m.name;
  }
  return s;
}

Result<const MethodDesc*> find_method(const std::string& name) {
  for (const MethodDesc& m : methods()) {
    if (m.name == name) return &m;
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown method '{}': expected one of {}", name, method_names());
}

bool method_needs_calibration(const std::string& name) {
  auto m = find_method(name);
  return m.ok() && (*m)->needs_calibration;
}

Result<RankPlan> uniform_plan(const LlamaConfig& cfg, const std::string& method, const std::string& granularity,
                              double budget) {
  LRKV_ASSIGN_OR_RETURN(const MethodDesc* m, find_method(method));
  if (!m->low_rank) {
    return make_error(ErrorCode::kInvalidArgument, "method '{}' merges heads and has no rank plan", method);
  }
  return uniform_plan(cfg, method, m->key_mode, granularity, budget);
}

}  // namespace lrkv
