#include "model/train/train_weights.h"

#include "kernels/elem.h"

namespace lrkv {

namespace {

// f32 view of `t` (in place) or a converted copy held by `w.owned`; null for an empty optional.
Result<const float*> f32_of(const Tensor& t, const std::vector<int64_t>& shape,
                            const std::string& what, bool optional, TrainWeights& w) {
  if (t.empty()) {
    if (optional) return static_cast<const float*>(nullptr);
    return make_error(ErrorCode::kNotFound, "training forward: missing weight {}", what);
  }
  if (t.shape() != shape) {
    return make_error(ErrorCode::kShapeMismatch, "training forward: {} has shape {}, expected {}",
                      what, t.shape_str(), shape_to_string(shape));
  }
  if (t.dtype() == DType::kF32) return t.data_as<float>();
  if (t.dtype() != DType::kF16 && t.dtype() != DType::kBF16) {
    return make_error(ErrorCode::kUnsupported,
                      "training forward: {} is {}; load the model with f32/f16/bf16 matrices", what,
                      dtype_name(t.dtype()));
  }
  const int64_t n = t.numel();
  auto buf = std::make_unique<float[]>(static_cast<size_t>(n));
  load_row(t.data(), t.dtype(), buf.get(), n);
  w.owned.push_back(std::move(buf));
  return static_cast<const float*>(w.owned.back().get());
}

}  // namespace

Result<TrainWeights> make_train_weights(const Model& model) {
  const LlamaConfig& c = model.config;
  LRKV_RETURN_IF_ERROR(c.validate(model.source_path.empty() ? c.name : model.source_path));
  const LlamaWeights& mw = model.weights;
  if (static_cast<int>(mw.layers.size()) != c.n_layer) {
    return make_error(ErrorCode::kShapeMismatch,
                      "training forward: model has {} layer weights, config {}", mw.layers.size(),
                      c.n_layer);
  }
  const int64_t d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), ff = c.d_ff, V = c.n_vocab;
  TrainWeights w;
#define LRKV_TW(dst, tensor, shape, name, opt) \
  LRKV_ASSIGN_OR_RETURN(dst, f32_of(tensor, shape, name, opt, w))
  LRKV_TW(w.tok_embd, mw.tok_embd, (std::vector<int64_t>{V, d}), "token_embd", false);
  LRKV_TW(w.out_norm, mw.out_norm, (std::vector<int64_t>{d}), "output_norm", false);
  if (c.tied_embeddings) {
    w.head = w.tok_embd;
  } else {
    LRKV_TW(w.head, mw.output, (std::vector<int64_t>{V, d}), "output", false);
  }
  w.layers.resize(c.n_layer);
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& s = mw.layers[l];
    TrainLayerWeights& o = w.layers[l];
    const bool nb = !c.qkv_bias;  // biases optional unless the config says they exist
    LRKV_TW(o.attn_norm, s.attn_norm, (std::vector<int64_t>{d}), fmt::format("blk.{}.attn_norm", l),
            false);
    LRKV_TW(o.wq, s.wq, (std::vector<int64_t>{qd, d}), fmt::format("blk.{}.attn_q", l), false);
    LRKV_TW(o.wk, s.wk, (std::vector<int64_t>{kvd, d}), fmt::format("blk.{}.attn_k", l), false);
    LRKV_TW(o.wv, s.wv, (std::vector<int64_t>{kvd, d}), fmt::format("blk.{}.attn_v", l), false);
    LRKV_TW(o.bq, s.bq, (std::vector<int64_t>{qd}), fmt::format("blk.{}.attn_q bias", l), nb);
    LRKV_TW(o.bk, s.bk, (std::vector<int64_t>{kvd}), fmt::format("blk.{}.attn_k bias", l), nb);
    LRKV_TW(o.bv, s.bv, (std::vector<int64_t>{kvd}), fmt::format("blk.{}.attn_v bias", l), nb);
    LRKV_TW(o.wo, s.wo, (std::vector<int64_t>{d, qd}), fmt::format("blk.{}.attn_output", l), false);
    LRKV_TW(o.ffn_norm, s.ffn_norm, (std::vector<int64_t>{d}), fmt::format("blk.{}.ffn_norm", l),
            false);
    LRKV_TW(o.w_gate, s.w_gate, (std::vector<int64_t>{ff, d}), fmt::format("blk.{}.ffn_gate", l),
            false);
    LRKV_TW(o.w_up, s.w_up, (std::vector<int64_t>{ff, d}), fmt::format("blk.{}.ffn_up", l), false);
    LRKV_TW(o.w_down, s.w_down, (std::vector<int64_t>{d, ff}), fmt::format("blk.{}.ffn_down", l),
            false);
  }
#undef LRKV_TW
  return w;
}

}  // namespace lrkv
