// An independent fp64 scalar Llama forward pass for tests (no lrkv kernels used): plain loops
// over the weights of a Model, full causal attention, returns logits for every position.
#pragma once

#include <vector>

#include "model/latent_layer.h"
#include "model/model.h"

namespace lrkv::test {

// logits [n_tokens, n_vocab] as doubles.
std::vector<double> reference_forward(const Model& m, const std::vector<int>& tokens);

// The same for a compressed model, with keys and values explicitly reconstructed from the
// factors of `latent` (no absorption, no latent attention): rebuild mode
// k = RoPE(B_k (A_k x + a) + b); absorbed mode k = mu + P Pᵀ (RoPE(W_k x + b_k) - mu);
// values v = B_v (A_v x + a_v) + b_v. The independent twin of the engine's latent path.
std::vector<double> reference_forward_latent(const Model& m, const std::vector<LatentLayer>& latent,
                                             const std::vector<int>& tokens);

}  // namespace lrkv::test
