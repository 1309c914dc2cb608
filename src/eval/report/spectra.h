// Singular-value spectra of each layer's K and V projections, for the report's spectrum plots:
//   k, v                σ of W_k, W_v ([n_kv_head*head_dim, d]) — what plain SVD (LoRC) truncates
//   k_whitened, v_whitened  σ of W L with L Lᵀ = XᵀX (calibration) — what Palu truncates; the
//                       squared tail is the output error on the calibration inputs
// Cost: one SVD per layer and matrix (kv_dim x d), O(kv_dim² d).
#pragma once

#include <nlohmann/json.hpp>

#include "compress/calibration.h"
#include "model/model.h"

namespace lrkv {

// {"k": [[σ_0 ...] per layer], "v": ..., and the whitened pair when `calib` is given}.
Result<nlohmann::json> weight_spectra(const Model& m, const CalibrationStats* calib);

}  // namespace lrkv
