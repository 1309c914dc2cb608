// compress_model: turns a model into one whose KV cache holds low-rank latents, per a RankPlan.
// For every layer and group of s consecutive KV heads (rows G = [s*hd] of W_k / W_v):
//   palu     keys & values: whitened SVD of W_G with calibration XᵀX  (keys rebuilt + RoPE'd)
//   lorc     keys & values: plain SVD of W_G (no data)                 (keys rebuilt + RoPE'd)
//   mkv-pca  keys: PCA of post-RoPE keys (absorbed into queries); values: PCA of v = W_G x
// Values' up-projections are folded into W_o when the model is loaded (latent_layer.h).
// The result shares the base model's weights and adds factor tensors + Model::compression;
// save_model() writes it as one GGUF file that every lrkv command loads like any model.
#pragma once

#include <functional>

#include "compress/calibration.h"
#include "compress/factorize.h"
#include "model/model.h"
#include "model/rank_plan.h"

namespace lrkv {

// The factorisations compress_model calls, one group at a time (never concurrently). The defaults
// are factorize.h's CPU (LAPACK) ones; a backend plugs in others with the same contracts, e.g.
// lrkv::cuda::gpu_factorizer() (backend/cuda/cuda_factorize.h, cuSOLVER) with -DLRKV_CUDA=ON.
struct Factorizer {
  std::function<Result<LowRankFactor>(const Mat& W, int rank)> plain_svd = plain_svd_factor;
  std::function<Result<LowRankFactor>(const Mat& W, const Mat& xtx, int rank)> whitened_svd = whitened_svd_factor;
  std::function<Result<LowRankFactor>(const Mat& cov, const std::vector<double>& mean, int rank, const Mat& W)> pca =
      pca_factor;
  std::string name = "cpu";
};

// `calib` may be null for methods that need none. Shows a progress bar over layers.
// A `base` that is already compressed (e.g. `lrkv tune`'s full-rank "mkv" model) is truncated to
// `plan` instead (truncate_to_plan; the plan must have its method and groups).
Result<Model> compress_model(const Model& base, const RankPlan& plan, const CalibrationStats* calib,
                             const Factorizer& factorizer = Factorizer());

}  // namespace lrkv
