#include "eval/report/method_registry.h"
#include "compress/methods.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "compress/compressor.h"
#include "compress/gqa_merge.h"

namespace lrkv {

namespace {

// The largest divisor of n_kv_head not above `s`.
// A uniform-plan low-rank method of compress_model (palu, lorc, mkv-pca).
MethodInfo low_rank(const MethodDesc& desc) {
  MethodInfo m;
  const std::string name = desc.name;
  m.name = name;
  m.description = desc.description;
  m.needs_calibration = desc.needs_calibration;
  const auto default_granularity = desc.default_granularity;
  m.normalize_arg = [default_granularity](const std::string& arg,
                                          const LlamaConfig& cfg) -> Result<std::string> {
    const std::string g = arg.empty() ? default_granularity(cfg) : arg;
    LRKV_RETURN_IF_ERROR(parse_granularity(g, cfg.n_kv_head).status());
    return g;
  };
  m.build = [name](const Model& base, const std::string& arg, double budget,
                   const CalibrationStats* c) -> Result<CompressedModel> {
    LRKV_ASSIGN_OR_RETURN(RankPlan plan, uniform_plan(base.config, name, arg, budget));
    LRKV_ASSIGN_OR_RETURN(Model m, compress_model(base, plan, c));
    const double kept = plan.kept_fraction(base.config);
    return CompressedModel{std::move(m), std::move(plan), kept};
  };
  return m;
}

// g = 1/budget when that is an integer dividing n_kv_head (and > 1), else 0.
int gqa_groups(double budget, const LlamaConfig& cfg) {
  if (!(budget > 0.0 && budget < 1.0)) return 0;
  const long g = std::lround(1.0 / budget);
  if (g < 2 || std::fabs(1.0 / static_cast<double>(g) - budget) > 1e-9 || cfg.n_kv_head % g != 0) return 0;
  return static_cast<int>(g);
}

MethodInfo gqa_method(const MethodDesc& desc) {
  MethodInfo m;
  m.name = desc.name;
  m.description = desc.description;
  m.needs_calibration = desc.needs_calibration;
  m.normalize_arg = [](const std::string& arg, const LlamaConfig&) -> Result<std::string> {
    if (!arg.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "gqa:{}: gqa takes no argument (g = 1/budget)", arg);
    }
    return std::string();
  };
  m.supports_budget = [](double budget, const LlamaConfig& cfg) { return gqa_groups(budget, cfg) > 0; };
  m.build = [](const Model& base, const std::string&, double budget,
               const CalibrationStats* c) -> Result<CompressedModel> {
    const int g = gqa_groups(budget, base.config);
    if (g == 0) {
      return make_error(ErrorCode::kInvalidArgument, "gqa: budget {} is not 1/g for a divisor g > 1 of {} KV heads",
                        budget, base.config.n_kv_head);
    }
    LRKV_ASSIGN_OR_RETURN(Model merged, merge_kv_heads(base, *c, g));
    return CompressedModel{std::move(merged), std::nullopt, 1.0 / g};
  };
  return m;
}

// One entry per row of the compression method table (compress/methods.h) that builds from a
// dense model: low-rank methods with uniform plans, and head merging.
std::vector<MethodInfo> make_registry() {
  std::vector<MethodInfo> r;
  for (const MethodDesc& d : methods()) {
    if (!d.from_dense) continue;
    r.push_back(d.factoriser == Factoriser::kHeadMerge ? gqa_method(d) : low_rank(d));
  }
  return r;
}

}  // namespace

const std::vector<MethodInfo>& method_registry() {
  static const std::vector<MethodInfo> r = make_registry();
  return r;
}

std::string eval_method_names() {
  std::string s;
  for (const MethodInfo& m : method_registry()) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

Result<MethodSpec> parse_method_spec(const std::string& spec, const LlamaConfig& cfg) {
  const size_t colon = spec.find(':');
  MethodSpec out;
  out.method = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const auto& reg = method_registry();
  auto it = std::find_if(reg.begin(), reg.end(),
                         [&](const MethodInfo& m) { return m.name == out.method; });
  if (it == reg.end()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--methods '{}': unknown method '{}' (known: {})", spec, out.method,
                      eval_method_names());
  }
  auto norm = it->normalize_arg(arg, cfg);
  if (!norm.ok()) {
    return make_error(ErrorCode::kInvalidArgument, "--methods '{}': {}", spec,
                      norm.status().message());
  }
  out.arg = *norm;
  return out;
}

Result<std::vector<MethodSpec>> parse_method_list(const std::string& list, const LlamaConfig& cfg) {
  std::vector<MethodSpec> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    LRKV_ASSIGN_OR_RETURN(MethodSpec s, parse_method_spec(item, cfg));
    for (const MethodSpec& o : out) {
      if (o.spec() == s.spec())
        return make_error(ErrorCode::kInvalidArgument, "--methods: '{}' given twice", s.spec());
    }
    out.push_back(s);
  }
  if (out.empty())
    return make_error(ErrorCode::kInvalidArgument, "--methods '{}': no methods (known: {})", list,
                      eval_method_names());
  return out;
}

const MethodInfo& method_info(const MethodSpec& spec) {
  for (const MethodInfo& m : method_registry()) {
    if (m.name == spec.method) return m;
  }
  LRKV_CHECK(false, "method '{}' is not in the registry", spec.method);
  return method_registry().front();
}

Result<CompressedModel> build_compressed(const Model& base, const MethodSpec& spec, double budget,
                                         const CalibrationStats* calib) {
  const MethodInfo& m = method_info(spec);
  if (m.needs_calibration && calib == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "method {} needs calibration statistics",
                      spec.spec());
  }
  return m.build(base, spec.arg, budget, calib);
}

}  // namespace lrkv
