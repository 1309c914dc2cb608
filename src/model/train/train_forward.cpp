// TrainForward: construction, batch checks, the forward pass (attention block in
// train_attention.cpp, backward in train_backward.cpp).
#include "model/train/train_forward.h"

#include <algorithm>

#include "model/train/train_ops.h"

namespace lrkv {

using train_ops::linear;

Result<TrainForward> TrainForward::create(const Model& model) {
  LRKV_ASSIGN_OR_RETURN(TrainWeights w, make_train_weights(model));
  return TrainForward(model, std::move(w));
}

TrainForward::TrainForward(const Model& model, TrainWeights w)
    : cfg_(model.config), w_(std::move(w)) {
  inv_freq_.resize(cfg_.head_dim / 2);
  rope_inverse_frequencies(cfg_, inv_freq_.data());
}

Status TrainForward::set_projections(const KvProjections* projections) {
  if (projections != nullptr) LRKV_RETURN_IF_ERROR(projections->validate(cfg_));
  proj_ = projections;
  have_forward_ = false;
  return Status::Ok();
}

Status TrainForward::check_batch(const TokenBatch& batch) const {
  if (batch.empty())
    return make_error(ErrorCode::kInvalidArgument, "training forward: empty batch");
  for (size_t s = 0; s < batch.size(); ++s) {
    if (batch[s].empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "training forward: sequence {} of the batch is empty", s);
    }
    for (int t : batch[s]) {
      if (t < 0 || t >= cfg_.n_vocab) {
        return make_error(ErrorCode::kInvalidArgument,
                          "training forward: sequence {}: token id {} outside the vocabulary of {}",
                          s, t, cfg_.n_vocab);
      }
    }
  }
  return Status::Ok();
}

void TrainForward::tap(const TrainHookFn& fn, int layer, HookPoint p, float* data,
                       int64_t cols) const {
  if (fn) fn(layer, p, data, T_, cols);
}

Status TrainForward::forward(const TokenBatch& batch) {
  have_forward_ = false;
  LRKV_RETURN_IF_ERROR(check_batch(batch));
  if (proj_ != nullptr) LRKV_RETURN_IF_ERROR(proj_->validate(cfg_));  // ranks may have changed
  const int64_t d = cfg_.d_model, V = cfg_.n_vocab;
  tokens_.clear();
  pos_.clear();
  seqs_.clear();
  for (const auto& s : batch) {
    seqs_.push_back({static_cast<int64_t>(tokens_.size()), static_cast<int64_t>(s.size())});
    tokens_.insert(tokens_.end(), s.begin(), s.end());
    for (size_t i = 0; i < s.size(); ++i) pos_.push_back(static_cast<int>(i));
  }
  T_ = static_cast<int64_t>(tokens_.size());
  x_.resize(T_ * d);
  for (int64_t t = 0; t < T_; ++t) std::copy_n(w_.tok_embd + tokens_[t] * d, d, x_.data() + t * d);
  acts_.resize(cfg_.n_layer);
  for (int l = 0; l < cfg_.n_layer; ++l) {
    attention_forward(l);
    ffn_forward(l);
  }
  rstdf_.resize(T_);
  hf_.resize(T_ * d);
  train_ops::rmsnorm_forward(x_.data(), w_.out_norm, T_, d, cfg_.norm_eps, hf_.data(),
                             rstdf_.data());
  tap(fwd_hook_, -1, HookPoint::kFinalHidden, hf_.data(), d);
  logits_.resize(T_ * V);
  linear(hf_.data(), d, T_, w_.head, V, d, logits_.data(), V);  // [T, V]
  have_forward_ = true;
  return Status::Ok();
}

void TrainForward::ffn_forward(int l) {
  const TrainLayerWeights& w = w_.layers[l];
  LayerActs& A = acts_[l];
  const int64_t d = cfg_.d_model, ff = cfg_.d_ff;
  A.xm = x_;  // [T, d]
  A.rstd2.resize(T_);
  A.h2.resize(T_ * d);
  train_ops::rmsnorm_forward(A.xm.data(), w.ffn_norm, T_, d, cfg_.norm_eps, A.h2.data(),
                             A.rstd2.data());
  tap(fwd_hook_, l, HookPoint::kFfnInput, A.h2.data(), d);
  A.gate.resize(T_ * ff);
  A.up.resize(T_ * ff);
  linear(A.h2.data(), d, T_, w.w_gate, ff, d, A.gate.data(), ff);  // [T, ff]
  linear(A.h2.data(), d, T_, w.w_up, ff, d, A.up.data(), ff);      // [T, ff]
  dff_.resize(T_ * ff);
  train_ops::swiglu_forward(A.gate.data(), A.up.data(), T_ * ff, dff_.data());
  linear(dff_.data(), ff, T_, w.w_down, d, ff, x_.data(), d, /*accumulate=*/true);
}

}  // namespace lrkv
