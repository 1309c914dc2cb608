#include "model/rank_plan.h"

#include <algorithm>
#include <cmath>

#include "io/json_int.h"

namespace lrkv {

const char* key_mode_name(KeyMode m) { return m == KeyMode::kRebuild ? "rebuild" : "absorbed"; }

Result<KeyMode> method_key_mode(const std::string& method) {
  if (method == "palu" || method == "lorc") return KeyMode::kRebuild;
  if (method.rfind("mkv", 0) == 0) return KeyMode::kAbsorbed;
  return make_error(ErrorCode::kInvalidArgument, "unknown method '{}': expected palu, lorc or mkv-pca", method);
}

Result<int> parse_granularity(const std::string& g, int n_kv_head) {
  if (g == "head") return 1;
  if (g == "joint") return n_kv_head;
  if (g.rfind("group:", 0) == 0) {
    int s = 0;
    try {
      size_t used = 0;
      s = std::stoi(g.substr(6), &used);
      if (used != g.size() - 6) s = 0;
    } catch (const std::exception&) {
      s = 0;
    }
    if (s <= 0 || n_kv_head % s != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "granularity '{}': group size must be a positive divisor of the {} KV heads", g, n_kv_head);
    }
    return s;
  }
  return make_error(ErrorCode::kInvalidArgument, "granularity '{}': expected head, group:S or joint", g);
}

int64_t RankPlan::latent_values_per_token() const {
  int64_t n = 0;
  for (const auto& l : layers) {
    for (const auto& g : l.groups) n += g.rank_k + g.rank_v;
  }
  return n;
}

double RankPlan::kept_fraction(const LlamaConfig& cfg) const {
  return static_cast<double>(latent_values_per_token()) / (2.0 * cfg.n_layer * cfg.kv_dim());
}

Status RankPlan::validate(const LlamaConfig& cfg, const std::string& src) const {
  auto bad = [&](const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, "{}: invalid rank plan: {}", src, what);
  };
  if (static_cast<int>(layers.size()) != cfg.n_layer) {
    return bad(fmt::format("{} layers, the model has {}", layers.size(), cfg.n_layer));
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    int next = 0;
    if (layers[l].groups.empty()) return bad(fmt::format("layer {} has no groups", l));
    for (const GroupPlan& g : layers[l].groups) {
      const int full = g.n_kv_heads * cfg.head_dim;
      if (g.kv_head_begin != next || g.n_kv_heads < 1) {
        return bad(fmt::format("layer {}: groups must tile the KV heads in order (group at head {}, expected {})",
                               l, g.kv_head_begin, next));
      }
      if (g.rank_k < 1 || g.rank_k > full || g.rank_v < 1 || g.rank_v > full) {
        return bad(fmt::format("layer {} group at head {}: ranks k {} v {} outside [1, {}]", l,
                               g.kv_head_begin, g.rank_k, g.rank_v, full));
      }
      next += g.n_kv_heads;
    }
    if (next != cfg.n_kv_head) return bad(fmt::format("layer {}: groups cover {} of {} KV heads", l, next, cfg.n_kv_head));
  }
  return Status::Ok();
}

nlohmann::json RankPlan::to_json() const {
  nlohmann::json j = {{"method", method}, {"granularity", granularity}, {"planner", planner},
                      {"budget", budget}, {"key_mode", key_mode_name(key_mode)}};
  if (latent_bits > 0) {
    j["latent_bits"] = latent_bits;
    j["latent_group"] = latent_group;
    j["latent_symmetric"] = latent_symmetric;
  }
  j["layers"] = nlohmann::json::array();
  for (const auto& l : layers) {
    nlohmann::json gl = nlohmann::json::array();
    for (const auto& g : l.groups) {
      gl.push_back({{"kv_head_begin", g.kv_head_begin}, {"n_kv_heads", g.n_kv_heads},
                    {"rank_k", g.rank_k}, {"rank_v", g.rank_v}});
    }
    j["layers"].push_back({{"groups", gl}});
  }
  return j;
}

Result<RankPlan> RankPlan::from_json(const nlohmann::json& j, const std::string& src) {
  RankPlan p;
  try {
    p.method = j.at("method").get<std::string>();
    p.granularity = j.at("granularity").get<std::string>();
    p.planner = j.value("planner", "uniform");
    p.budget = j.at("budget").get<double>();
    const std::string km = j.at("key_mode").get<std::string>();
    if (km != "rebuild" && km != "absorbed") throw std::runtime_error("key_mode must be rebuild or absorbed");
    p.key_mode = km == "rebuild" ? KeyMode::kRebuild : KeyMode::kAbsorbed;
    p.latent_bits = json_int_or(j, "latent_bits", 0);
    p.latent_group = json_int_or(j, "latent_group", 32);
    p.latent_symmetric = j.value("latent_symmetric", false);
    if (p.latent_bits < 0 || p.latent_bits > 8 || p.latent_group < 0) {
      throw std::runtime_error("latent_bits must be 0..8 and latent_group >= 0");
    }
    for (const auto& l : j.at("layers")) {
      LayerPlan lp;
      for (const auto& g : l.at("groups")) {
        lp.groups.push_back({json_int(g, "kv_head_begin"), json_int(g, "n_kv_heads"),
                             json_int(g, "rank_k"), json_int(g, "rank_v")});
      }
      p.layers.push_back(std::move(lp));
    }
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorruptFile, "{}: bad rank plan JSON: {}", src, e.what());
  }
  return p;
}

Result<RankPlan> RankPlan::parse(const std::string& text, const std::string& src) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(ErrorCode::kCorruptFile, "{}: rank plan is not valid JSON", src);
  return from_json(j, src);
}

Result<RankPlan> uniform_plan(const LlamaConfig& cfg, const std::string& method,
                              const std::string& granularity, double budget) {
  LRKV_ASSIGN_OR_RETURN(KeyMode mode, method_key_mode(method));
  LRKV_ASSIGN_OR_RETURN(int s, parse_granularity(granularity, cfg.n_kv_head));
  if (!(budget > 0.0) || budget > 1.0) {
    return make_error(ErrorCode::kInvalidArgument, "--budget {} must be in (0, 1]", budget);
  }
  RankPlan p;
  p.method = method;
  p.granularity = granularity;
  p.budget = budget;
  p.key_mode = mode;
  const int full = s * cfg.head_dim, groups = cfg.n_kv_head / s;
  const int64_t slots = int64_t{2} * cfg.n_layer * groups;  // (layer, group, K|V)
  const int64_t target = std::llround(budget * 2.0 * cfg.n_layer * cfg.kv_dim());
  if (target < slots) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--budget {} keeps {} dimensions, fewer than one per (layer, group, K|V) slot ({}) "
                      "at granularity '{}'", budget, target, slots, granularity);
  }
  const int64_t base = std::clamp<int64_t>(target / slots, 1, full);
  int64_t extra = std::clamp<int64_t>(target - base * slots, 0, slots * (full - base));
  for (int l = 0; l < cfg.n_layer; ++l) {
    LayerPlan lp;
    for (int g = 0; g < groups; ++g) {
      GroupPlan gp{g * s, s, static_cast<int>(base), static_cast<int>(base)};
      // Leftovers: one extra dimension per slot, K before V, in layer/group order.
      if (extra > 0) {
        ++gp.rank_k;
        --extra;
      }
      if (extra > 0) {
        ++gp.rank_v;
        --extra;
      }
      lp.groups.push_back(gp);
    }
    p.layers.push_back(std::move(lp));
  }
  return p;
}

}  // namespace lrkv
