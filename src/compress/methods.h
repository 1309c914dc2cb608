// The one table of compression methods: what compress, plan, eval and the CLI need to know about
// each. To add a method: add a row to methods.cpp; if it needs a new factorisation, a Factoriser
// value and its case in compressor.cpp (LayerCompressor::key_factor/value_factor) and in
// planners/slots.cpp (slot_spectra); eval picks low-rank rows up by itself
// (eval/report/method_registry.cpp builds its entries from this table).
//   palu     whitened SVD of W_k/W_v (Cholesky of the calibration XᵀX)  keys rebuilt   calibration
//   lorc     plain SVD of W_k/W_v                                       keys rebuilt   no data
//   mkv-pca  PCA of post-RoPE keys and of values                        keys absorbed  calibration
//   mkv      MatryoshkaKV projections trained by `lrkv tune`            keys absorbed  (tune only)
//   gqa      MHA->GQA head merging (`lrkv convert-gqa`): a plain model, no latent cache
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/llama_config.h"
#include "model/rank_plan.h"

namespace lrkv {

enum class Factoriser {
  kWhitenedSvd,    // SVD of W·L, L = chol(XᵀX) (Palu)
  kPlainSvd,       // SVD of W (LoRC)
  kActivationPca,  // eigenvectors of the post-RoPE key / value covariance (MatryoshkaKV init)
  kTrained,        // ordered projections from distillation (`lrkv tune`)
  kHeadMerge,      // PCA across KV heads folded into W_q/W_o (MHA->GQA)
};

struct MethodDesc {
  std::string name;
  std::string description;
  Factoriser factoriser;
  KeyMode key_mode = KeyMode::kRebuild;
  bool needs_calibration = false;
  bool low_rank = true;    // a latent cache with a RankPlan (false: merged heads, a plain model)
  bool from_dense = true;  // compress_model builds it from an uncompressed model
  // Granularity used when none is given (the paper's choice for this model).
  std::function<std::string(const LlamaConfig&)> default_granularity;
  std::vector<std::string> planners;  // `lrkv plan --planner` values that apply
};

const std::vector<MethodDesc>& methods();
// The row of `name`; errors name the method and list the known ones.
Result<const MethodDesc*> find_method(const std::string& name);
// "palu, lorc, mkv-pca" — the names of rows matching `keep` (all when null), for help and errors.
std::string method_names(const std::function<bool(const MethodDesc&)>& keep = nullptr);
bool method_needs_calibration(const std::string& name);  // false for unknown names

// uniform_plan (model/rank_plan.h) with the method's key mode from the table.
Result<RankPlan> uniform_plan(const LlamaConfig& cfg, const std::string& method, const std::string& granularity,
                              double budget);

}  // namespace lrkv
