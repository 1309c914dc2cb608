// Trained MatryoshkaKV projections as a compressed model file: method "mkv", head granularity,
// absorbed keys, FULL rank (every rank = head_dim), factor tensors as latent_layer.h names them:
//   blk.L.lrkv.k_proj.G    [hd, hd]  U_K of KV head G          blk.L.lrkv.k_mean  [kv_dim]  mu_K
//   blk.L.lrkv.v_down      [kv, d]   rows of head G: U_Vᵀ W_v,G
//   blk.L.lrkv.v_down_bias [kv]      U_Vᵀ (b_v,G − mu_V)   (b_v = 0 without qkv bias)
//   blk.L.lrkv.v_up.G      [hd, hd]  U_V                       blk.L.lrkv.v_up_bias [kv] mu_V
// i.e. the mkv-pca factors of compress_model with the trained U and mu. Columns are ordered by
// the Matryoshka training, so truncate_to_plan's prefixes (`lrkv compress OUT --budget B` or
// --plan) give the trained rank-r projections.
#pragma once

#include <string>

#include "model/model.h"
#include "model/train/kv_projection.h"

namespace lrkv {

// `base` is the original model (not compressed); P has the model's shapes (ranks ignored).
// The result shares base's weights; `tune_info` (JSON text, may be empty) is kept as
// the compression state's "tune" provenance.
Result<Model> mkv_model(const Model& base, const KvProjections& P, const std::string& tune_info);

}  // namespace lrkv
