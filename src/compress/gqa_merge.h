// KV-head compression (MHA -> GQA, arXiv 2406.07056): merge each group of g consecutive KV heads
// into one, by activation PCA, and fold the per-head maps into W_q / W_o so the result is a
// standard GQA Llama with n_kv_head / g KV heads and no extra inference compute.
//  Values (real PCA): v_G ≈ U v' with U [g·hd, hd] the top eigenvectors of E[v_G v_Gᵀ] (second
//   moment, no mean: plain GQA has no bias to put it in). W_v' = Uᵀ W_v,G; every query head h
//   reading original KV head j gets W_o[:, h] ← W_o[:, h] · U[rows of j].
//  Keys (RoPE): per RoPE frequency i, the g heads' pairs as complex numbers z_{j,i}; u_i = top
//   eigenvector of the Hermitian E[z_i z_iᴴ] (RoPE-invariant: calibration k_freq). New key pair
//   z'_i = Σ_j conj(u_{i,j}) z_{j,i}; query head h reading head j scales its pair by conj(u_{i,j}).
//   Complex scalars act on a pair as [[a, -b], [b, a]] and commute with RoPE's rotation, so both
//   maps are folded into W_k / W_q before RoPE and the model still applies ordinary RoPE.
// g = 1 reproduces the original model (up to a per-pair rotation of q and k).
#pragma once

#include <complex>
#include <vector>

#include "compress/calibration.h"
#include "model/model.h"

namespace lrkv {

// Returns a new standard model (weights f32, tokenizer copied, no lrkv metadata).
Result<Model> merge_kv_heads(const Model& base, const CalibrationStats& calib, int g);

// The key mixing of layer `layer`, merged head G: c[i * g + j] = conj(u_{i,j}), the coefficient
// of original head (G·g + j)'s RoPE pair i in the merged head's pair i.
Result<std::vector<std::complex<double>>> key_mix_coefficients(const CalibrationStats& calib, int layer, int G,
                                                               int g);

}  // namespace lrkv
