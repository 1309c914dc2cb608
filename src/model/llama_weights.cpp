#include "model/llama_weights.h"

#include <cstring>

namespace lrkv {

void for_each_weight(const LlamaConfig& cfg, LlamaWeights& w,
                     const std::function<void(const WeightSlot&)>& fn) {
  const int64_t d = cfg.d_model, q = cfg.q_dim(), kv = cfg.kv_dim(), ff = cfg.d_ff;
  fn({"token_embd.weight", {cfg.n_vocab, d}, &w.tok_embd, true});
  w.layers.resize(cfg.n_layer);
  for (int l = 0; l < cfg.n_layer; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    fn({p + "attn_norm.weight", {d}, &L.attn_norm, false});
    fn({p + "attn_q.weight", {q, d}, &L.wq, true});
    fn({p + "attn_k.weight", {kv, d}, &L.wk, true});
    fn({p + "attn_v.weight", {kv, d}, &L.wv, true});
    if (cfg.qkv_bias) {
      fn({p + "attn_q.bias", {q}, &L.bq, false});
      fn({p + "attn_k.bias", {kv}, &L.bk, false});
      fn({p + "attn_v.bias", {kv}, &L.bv, false});
    }
    fn({p + "attn_output.weight", {d, q}, &L.wo, true});
    fn({p + "ffn_norm.weight", {d}, &L.ffn_norm, false});
    fn({p + "ffn_gate.weight", {ff, d}, &L.w_gate, true});
    fn({p + "ffn_up.weight", {ff, d}, &L.w_up, true});
    fn({p + "ffn_down.weight", {d, ff}, &L.w_down, true});
  }
  fn({"output_norm.weight", {d}, &w.out_norm, false});
  if (!cfg.tied_embeddings) fn({"output.weight", {cfg.n_vocab, d}, &w.output, true});
}

Status validate_weights(const LlamaConfig& cfg, LlamaWeights& weights, const std::string& source) {
  Status status;
  for_each_weight(cfg, weights, [&](const WeightSlot& s) {
    if (!status.ok()) return;
    if (s.tensor->empty()) {
      status = make_error(ErrorCode::kNotFound, "{}: missing tensor '{}' (expected shape {})", source,
                          s.name, shape_to_string(s.shape));
    } else if (s.tensor->shape() != s.shape) {
      status = make_error(ErrorCode::kShapeMismatch, "{}: tensor '{}' has shape {}, expected {}",
                          source, s.name, s.tensor->shape_str(), shape_to_string(s.shape));
    }
  });
  return status;
}

Status convert_weights(const LlamaConfig& cfg, LlamaWeights& weights, DType matrix_dtype, bool keep_16bit) {
  Status status;
  for_each_weight(cfg, weights, [&](const WeightSlot& s) {
    if (!status.ok()) return;
    const DType have = s.tensor->dtype();
    const bool keep = s.is_matrix && keep_16bit && (have == DType::kF16 || have == DType::kBF16);
    const DType want = !s.is_matrix ? DType::kF32 : keep ? have : matrix_dtype;
    if (have == want) return;
    auto r = s.tensor->to(want);
    if (!r.ok()) {
      status = r.status();
      return;
    }
    *s.tensor = std::move(r).value();
    s.tensor->set_name(s.name);
  });
  return status;
}

Tensor permute_rope_rows(const Tensor& w, int n_heads, int head_dim, bool to_half_split) {
  LRKV_CHECK(w.ndim() == 2 && w.dim(0) == int64_t{n_heads} * head_dim, "{} {}", w.name(), w.shape_str());
  Tensor out = Tensor::zeros(w.dtype(), w.shape(), w.name());
  const int64_t row_bytes = dtype_bytes(w.dtype(), w.dim(1));
  const auto* src = static_cast<const uint8_t*>(w.data());
  auto* dst = static_cast<uint8_t*>(out.data());
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < half; ++i) {
      for (int c = 0; c < 2; ++c) {
        const int64_t inter = int64_t{h} * head_dim + 2 * i + c;
        const int64_t split = int64_t{h} * head_dim + i + c * half;
        const int64_t from = to_half_split ? inter : split;
        const int64_t to = to_half_split ? split : inter;
        std::memcpy(dst + to * row_bytes, src + from * row_bytes, row_bytes);
      }
    }
  }
  return out;
}

}  // namespace lrkv
