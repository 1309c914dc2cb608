// Methods `lrkv eval` can compare, parsed from specs "NAME[:ARG]" (e.g. "palu:group:4",
// "lorc", "mkv-pca:head"). Each registry entry turns (base model, ARG, budget, calibration)
// into an in-memory compressed model and its rank plan. Current entries (uniform rank plans):
//   palu     whitened SVD of W_k/W_v (calibration XᵀX);    ARG granularity, default group:4 (or
//            the largest divisor of n_kv_head below 4) — Palu's G-LRD
//   lorc     plain SVD of W_k/W_v (no data);                ARG granularity, default joint — LoRC
//            factorises each layer's whole K/V projection
//   mkv-pca  PCA of post-RoPE keys / values (calibration);  ARG granularity, default head —
//            MatryoshkaKV's per-head projections (PCA init, untrained)
//   gqa      MHA->GQA: groups of g = 1/budget KV heads merged by activation PCA (RoPE-commuting
//            complex PCA for keys), a standard GQA model; no ARG; budgets that are not 1/g for
//            a divisor g of n_kv_head are skipped
// The entries come from the compression method table (compress/methods.h): a row there that builds
// from a dense model appears here; nothing to add in this file for a new low-rank method.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compress/calibration.h"
#include "model/model.h"
#include "model/rank_plan.h"

namespace lrkv {

struct MethodSpec {
  std::string method;  // registry name, e.g. "palu"
  std::string arg;     // normalised argument, e.g. "group:4" ("" when the method takes none)
  std::string spec() const { return arg.empty() ? method : method + ":" + arg; }   // "palu:group:4"
  std::string label() const { return arg.empty() ? method : method + " " + arg; }  // "palu group:4"
};

struct CompressedModel {
  Model model;
  std::optional<RankPlan> plan;  // what a latent cache keeps (heat-maps); none for merged heads
  double kept_fraction = 1.0;    // of the original KV cache
};

struct MethodInfo {
  std::string name;
  std::string description;
  bool needs_calibration = false;
  // Validates ARG for this model and fills in the default when it is empty.
  std::function<Result<std::string>(const std::string& arg, const LlamaConfig& cfg)> normalize_arg;
  // Whether a budget can be met exactly (null: every budget in (0, 1]).
  std::function<bool(double budget, const LlamaConfig& cfg)> supports_budget;
  // Builds the compressed model. `calib` is non-null when needs_calibration.
  std::function<Result<CompressedModel>(const Model& base, const std::string& arg, double budget,
                                        const CalibrationStats* calib)>
      build;
};

const std::vector<MethodInfo>& method_registry();
// "palu, lorc, mkv-pca" for messages.
std::string eval_method_names();

// Parses one spec; errors name the spec and list the known methods.
Result<MethodSpec> parse_method_spec(const std::string& spec, const LlamaConfig& cfg);
// Comma-separated specs ("palu:group:4,lorc"); duplicates are an error.
Result<std::vector<MethodSpec>> parse_method_list(const std::string& list, const LlamaConfig& cfg);
const MethodInfo& method_info(const MethodSpec& spec);  // the spec must come from parse_method_spec

Result<CompressedModel> build_compressed(const Model& base, const MethodSpec& spec, double budget,
                                         const CalibrationStats* calib);

}  // namespace lrkv
