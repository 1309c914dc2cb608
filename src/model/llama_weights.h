// LlamaWeights: every weight of a Llama model, named once. for_each_weight() is the single list
// used by loaders (expected names and shapes), writers and `lrkv info`.
// Canonical names are GGUF's ("blk.3.attn_q.weight"); io/ maps them to other formats.
// Matrices are [out, in] row-major (PyTorch layout). RoPE'd rows of wq/wk are stored in the
// layout named by LlamaConfig::rope_layout.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/llama_config.h"

namespace lrkv {

struct LayerWeights {
  Tensor attn_norm;  // [d_model]
  Tensor wq;         // [n_head*head_dim, d_model]
  Tensor wk;         // [n_kv_head*head_dim, d_model]
  Tensor wv;         // [n_kv_head*head_dim, d_model]
  Tensor bq;         // [n_head*head_dim]     (qkv_bias only)
  Tensor bk;         // [n_kv_head*head_dim]  (qkv_bias only)
  Tensor bv;         // [n_kv_head*head_dim]  (qkv_bias only)
  Tensor wo;         // [d_model, n_head*head_dim]
  Tensor ffn_norm;   // [d_model]
  Tensor w_gate;     // [d_ff, d_model]
  Tensor w_up;       // [d_ff, d_model]
  Tensor w_down;     // [d_model, d_ff]
};

struct LlamaWeights {
  Tensor tok_embd;  // [n_vocab, d_model]
  std::vector<LayerWeights> layers;
  Tensor out_norm;  // [d_model]
  Tensor output;    // [n_vocab, d_model]; empty when embeddings are tied
};

// One weight slot: canonical name, expected shape, and the tensor.
struct WeightSlot {
  std::string name;
  std::vector<int64_t> shape;
  Tensor* tensor;
  bool is_matrix;  // a 2-D projection (stored in the model's weight dtype); else f32 vector
};

// Visits every weight the config requires, in file order (embeddings, layers, norm, output).
// `weights.layers` is resized to cfg.n_layer.
void for_each_weight(const LlamaConfig& cfg, LlamaWeights& weights,
                     const std::function<void(const WeightSlot&)>& fn);

// Checks every required tensor is present with the expected shape. Errors name `source`.
Status validate_weights(const LlamaConfig& cfg, LlamaWeights& weights, const std::string& source);

// Converts all projection matrices to `dtype` (f32/f16/bf16) and norm/bias vectors to f32.
// keep_16bit: matrices already f16 or bf16 are left as they are.
Status convert_weights(const LlamaConfig& cfg, LlamaWeights& weights, DType matrix_dtype, bool keep_16bit = false);

// Permutes the rows of each head of a RoPE'd projection [n_heads*head_dim, in] between layouts:
// interleaved pair (2i, 2i+1) <-> half-split pair (i, i+d/2). Works on any dtype (row copy).
Tensor permute_rope_rows(const Tensor& w, int n_heads, int head_dim, bool to_half_split);

}  // namespace lrkv
