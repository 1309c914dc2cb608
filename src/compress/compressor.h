// compress_model: turns a model into one whose KV cache holds low-rank latents, per a RankPlan.
// For every layer and group of s consecutive KV heads (rows G = [s*hd] of W_k / W_v):
//   palu     keys & values: whitened SVD of W_G with calibration XᵀX  (keys rebuilt + RoPE'd)
//   lorc     keys & values: plain SVD of W_G (no data)                 (keys rebuilt + RoPE'd)
//   mkv-pca  keys: PCA of post-RoPE keys (absorbed into queries); values: PCA of v = W_G x
// Values' up-projections are folded into W_o when the model is loaded (latent_layer.h).
// The result shares the base model's weights and adds factor tensors + "lrkv.plan" metadata;
// save_model() writes it as one GGUF file that every lrkv command loads like any model.
#pragma once

#include "compress/calibration.h"
#include "model/model.h"
#include "model/rank_plan.h"

namespace lrkv {

// Methods that need calibration statistics (palu, mkv-pca).
bool method_needs_calibration(const std::string& method);

// `calib` may be null for methods that need none. Shows a progress bar over layers.
Result<Model> compress_model(const Model& base, const RankPlan& plan, const CalibrationStats* calib);

}  // namespace lrkv
