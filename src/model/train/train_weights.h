// TrainWeights: f32 pointers to every weight the training forward reads. f32 tensors of the
// Model are read in place (no copy: edits to them, e.g. finite-difference perturbations, are seen
// by the next forward); f16/bf16 matrices are converted once to owned f32 copies.
// Quantized dtypes are refused (load the model with matrix_dtype f32/f16/bf16).
#pragma once

#include <memory>
#include <vector>

#include "model/model.h"

namespace lrkv {

struct TrainLayerWeights {
  const float* attn_norm = nullptr;  // [d]
  const float* wq = nullptr;         // [q_dim, d]
  const float* wk = nullptr;         // [kv_dim, d]
  const float* wv = nullptr;         // [kv_dim, d]
  const float* bq = nullptr;         // [q_dim]  or null (no qkv bias)
  const float* bk = nullptr;         // [kv_dim] or null
  const float* bv = nullptr;         // [kv_dim] or null
  const float* wo = nullptr;         // [d, q_dim]
  const float* ffn_norm = nullptr;   // [d]
  const float* w_gate = nullptr;     // [d_ff, d]
  const float* w_up = nullptr;       // [d_ff, d]
  const float* w_down = nullptr;     // [d, d_ff]
};

struct TrainWeights {
  const float* tok_embd = nullptr;  // [n_vocab, d]
  std::vector<TrainLayerWeights> layers;
  const float* out_norm = nullptr;  // [d]
  const float* head = nullptr;      // [n_vocab, d] (tok_embd when tied)
  // Converted copies (f16/bf16 sources); buffers keep their address when TrainWeights moves.
  std::vector<std::unique_ptr<float[]>> owned;
};

// Checks shapes against the config and builds the pointer table. The Model must outlive it.
Result<TrainWeights> make_train_weights(const Model& model);

}  // namespace lrkv
