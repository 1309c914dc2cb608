// Folds the orthonormal Walsh-Hadamard rotation (kernels/hadamard.h) into every rank group's
// latent factors of a compressed model, in place (Palu step 7). For layer L, group g with ranks
// r_k, r_v and H_r the rotation of size r:
//   rebuild keys:  k_down rows of g <- H (rows), k_down_bias slice <- H (slice),
//                  k_up.g <- k_up.g H
//   absorbed keys: k_proj.g <- k_proj.g H  (the latent Pᵀ(k - mu) and the queries follow)
//   values:        v_down rows of g <- H (rows), v_down_bias slice <- H (slice),
//                  v_up.g <- v_up.g H
// (H = Hᵀ.) Every product B A, hence every unquantised result, is unchanged up to float rounding;
// the latents are rotated, which spreads outlier channels before quantisation.
// Rotated factors are stored as f32 copies (mmap'd inputs are never written). Sets
// CompressedAttention::hadamard; a second fold is an error (it would undo the first).
// Cost O(Σ_g r_g log r_g · (d + s·head_dim)) per layer.
#pragma once

#include "core/status.h"
#include "model/model.h"

namespace lrkv {

Status fold_hadamard_factors(Model& m);
// True when the model's factors carry the rotation (metadata lrkv.hadamard = "1").
bool has_hadamard(const Model& m);

}  // namespace lrkv
