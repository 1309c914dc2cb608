#include "model/rank_plan.h"

#include <algorithm>
#include <cmath>

#include "model/methods.h"

namespace lrkv {

// Granularity of a plan whose groups have different sizes (tiling the KV heads in order); the
// engine runs such plans (tests build them), so they must survive the lrkv.plan round trip.
constexpr const char* kCustomGranularity = "custom";

const char* key_mode_name(KeyMode m) { return m == KeyMode::kRebuild ? "rebuild" : "absorbed"; }

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
  if (static_cast<int64_t>(layers.size()) != cfg.n_layer) {
    return bad(fmt::format("{} layers, the model has {}", layers.size(), cfg.n_layer));
  }
  // "custom": groups of any sizes that tile the heads; otherwise all groups have the size s.
  const bool custom = granularity == kCustomGranularity;
  auto s = custom ? Result<int>(0) : parse_granularity(granularity, cfg.n_kv_head);
  if (!s.ok()) return bad(s.status().message());
  if (auto m = find_method(method); !m.ok() || !(*m)->low_rank || (*m)->key_mode != key_mode) {
    return bad(fmt::format("key_mode '{}' does not fit method '{}'", key_mode_name(key_mode), method));
  }
  if (!(budget > 0.0 && budget <= 1.0)) return bad(fmt::format("budget {} must be in (0, 1]", budget));
  for (size_t l = 0; l < layers.size(); ++l) {
    int64_t next = 0;
    if (layers[l].groups.empty()) return bad(fmt::format("layer {} has no groups", l));
    for (const GroupPlan& g : layers[l].groups) {
      const int64_t full = int64_t{g.n_kv_heads} * cfg.head_dim;
      if (g.kv_head_begin != next || g.n_kv_heads < 1 || (!custom && g.n_kv_heads != *s)) {
        return bad(fmt::format("layer {}: groups must tile the KV heads in order, {} heads each for '{}' "
                               "(group at head {} of {} heads, expected head {})",
                               l, *s, granularity, g.kv_head_begin, g.n_kv_heads, next));
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

namespace {

// Reads j[key] as an integer in [lo, hi]; floats (3.7, 1e308) and values that would wrap
// (4294967304) are refused rather than converted. Throws with the field's name.
int int_field(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi, const std::string& where) {
  const nlohmann::json& v = j.at(key);
  bool in_range = false;
  if (v.is_number_unsigned()) {
    in_range = v.get<uint64_t>() <= static_cast<uint64_t>(hi) && static_cast<int64_t>(v.get<uint64_t>()) >= lo;
  } else if (v.is_number_integer()) {
    in_range = v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  }
  if (!v.is_number_integer() || !in_range) {
    throw std::runtime_error(fmt::format("{}{} {} must be an integer in [{}, {}]", where, key, v.dump(), lo, hi));
  }
  return static_cast<int>(v.get<int64_t>());
}

std::string string_field(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = j.at(key);
  if (!v.is_string()) throw std::runtime_error(fmt::format("{} {} must be a string", key, v.dump()));
  return v.get<std::string>();
}

// Syntax of "head", "joint", "group:S" (S checked against the model in validate()).
bool granularity_syntax_ok(const std::string& g) {
  if (g == "head" || g == "joint" || g == kCustomGranularity) return true;
  if (g.rfind("group:", 0) != 0 || g.size() == 6 || g.size() > 12) return false;
  return std::all_of(g.begin() + 6, g.end(), [](char c) { return c >= '0' && c <= '9'; });
}

constexpr int64_t kMaxRank = int64_t{1} << 24;  // far above any n_kv_head * head_dim

}  // namespace

bool is_known_planner(const std::string& name) {
  for (const char* p : {"uniform", "progressive", "fisher", "energy", "greedy-kl"}) {
    if (name == p) return true;
  }
  return false;
}

Result<RankPlan> RankPlan::from_json(const nlohmann::json& j, const std::string& src) {
  RankPlan p;
  try {
    if (!j.is_object()) throw std::runtime_error("expected a JSON object");
    p.method = string_field(j, "method");
    auto desc = find_method(p.method);
    if (!desc.ok() || !(*desc)->low_rank) {
      throw std::runtime_error(fmt::format("method '{}': expected one of {}", p.method,
                                           method_names([](const MethodDesc& m) { return m.low_rank; })));
    }
    const KeyMode* mode = &(*desc)->key_mode;
    p.granularity = string_field(j, "granularity");
    if (!granularity_syntax_ok(p.granularity)) {
      throw std::runtime_error(fmt::format("granularity '{}': expected head, group:S, joint or custom", p.granularity));
    }
    p.planner = j.contains("planner") ? string_field(j, "planner") : "uniform";
    if (!is_known_planner(p.planner)) {
      throw std::runtime_error(fmt::format("planner '{}': expected uniform, progressive, fisher, energy or greedy-kl",
                                           p.planner));
    }
    const nlohmann::json& b = j.at("budget");
    p.budget = b.is_number() ? b.get<double>() : -1.0;
    if (!(p.budget > 0.0 && p.budget <= 1.0)) throw std::runtime_error(fmt::format("budget {} must be in (0, 1]", b.dump()));
    const std::string km = string_field(j, "key_mode");
    if (km != "rebuild" && km != "absorbed") throw std::runtime_error("key_mode must be rebuild or absorbed");
    p.key_mode = km == "rebuild" ? KeyMode::kRebuild : KeyMode::kAbsorbed;
    if (p.key_mode != *mode) {
      throw std::runtime_error(fmt::format("key_mode '{}' does not fit method {} (its key mode is '{}')", km, p.method,
                                           key_mode_name(*mode)));
    }
    p.latent_bits = j.contains("latent_bits") ? int_field(j, "latent_bits", 0, 8, "") : 0;
    if (p.latent_bits != 0 && p.latent_bits != 2 && p.latent_bits != 3 && p.latent_bits != 4 && p.latent_bits != 8) {
      throw std::runtime_error(fmt::format("latent_bits {} must be 0, 8, 4, 3 or 2", p.latent_bits));
    }
    p.latent_group = j.contains("latent_group") ? int_field(j, "latent_group", 0, kMaxRank, "") : 32;
    if (j.contains("latent_symmetric")) {
      if (!j["latent_symmetric"].is_boolean()) throw std::runtime_error("latent_symmetric must be true or false");
      p.latent_symmetric = j["latent_symmetric"].get<bool>();
    }
    if (!j.at("layers").is_array()) throw std::runtime_error("layers must be an array");
    for (size_t l = 0; l < j["layers"].size(); ++l) {
      const nlohmann::json& groups = j["layers"][l].at("groups");
      if (!groups.is_array()) throw std::runtime_error(fmt::format("layer {}: groups must be an array", l));
      LayerPlan lp;
      for (size_t gi = 0; gi < groups.size(); ++gi) {
        const nlohmann::json& g = groups[gi];
        const std::string at = fmt::format("layer {} group {}: ", l, gi);
        lp.groups.push_back({int_field(g, "kv_head_begin", 0, kMaxRank, at), int_field(g, "n_kv_heads", 1, kMaxRank, at),
                             int_field(g, "rank_k", 1, kMaxRank, at), int_field(g, "rank_v", 1, kMaxRank, at)});
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

Result<RankPlan> uniform_plan(const LlamaConfig& cfg, const std::string& method, KeyMode mode,
                              const std::string& granularity, double budget) {
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
