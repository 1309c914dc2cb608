// TrainForward::backward: the chain rule through the LM head, the final RMSNorm and every layer
// in reverse (FFN here, attention in train_attention.cpp). dx_ carries dL/d(residual stream).
#include <algorithm>

#include "model/train/train_forward.h"
#include "model/train/train_ops.h"

namespace lrkv {

using train_ops::linear_dx;

Status TrainForward::backward(const float* dlogits, const BackwardOptions& options,
                              Gradients* grads) {
  if (!have_forward_) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "training backward: no forward to differentiate (run forward() first, after any "
        "set_projections())");
  }
  if (dlogits == nullptr || grads == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "training backward: null dlogits or gradients");
  }
  const int64_t d = cfg_.d_model, V = cfg_.n_vocab;
  grads->layers.assign(cfg_.n_layer, LayerGradients{});
  grads->projections = proj_ != nullptr ? KvProjections::zeros_like(*proj_) : KvProjections{};
  dh_.resize(T_ * d);
  linear_dx(dlogits, V, T_, w_.head, V, d, dh_.data(), d, false);  // dL/dhf [T, d]
  tap(grad_hook_, -1, HookPoint::kFinalHidden, dh_.data(), d);
  dx_.assign(T_ * d, 0.0f);
  train_ops::rmsnorm_backward(x_.data(), w_.out_norm, rstdf_.data(), dh_.data(), T_, d, dx_.data());
  for (int l = cfg_.n_layer - 1; l >= 0; --l) {
    ffn_backward(l);
    attention_backward(l, options, grads);
  }
  return Status::Ok();
}

// In: dx_ = dL/d(residual after the FFN). Out: dx_ = dL/d(residual after attention).
void TrainForward::ffn_backward(int l) {
  const TrainLayerWeights& w = w_.layers[l];
  const LayerActs& A = acts_[l];
  const int64_t d = cfg_.d_model, ff = cfg_.d_ff;
  dff_.resize(T_ * ff);
  dff2_.resize(T_ * ff);
  linear_dx(dx_.data(), d, T_, w.w_down, d, ff, dff_.data(), ff, false);  // da [T, ff]
  // dgate over da (in place), dup in dff2_
  train_ops::swiglu_backward(A.gate.data(), A.up.data(), dff_.data(), T_ * ff, dff_.data(),
                             dff2_.data());
  dh_.resize(T_ * d);  // dL/dh2 [T, d]
  linear_dx(dff_.data(), ff, T_, w.w_gate, ff, d, dh_.data(), d, false);
  linear_dx(dff2_.data(), ff, T_, w.w_up, ff, d, dh_.data(), d, true);
  tap(grad_hook_, l, HookPoint::kFfnInput, dh_.data(), d);
  train_ops::rmsnorm_backward(A.xm.data(), w.ffn_norm, A.rstd2.data(), dh_.data(), T_, d,
                              dx_.data());
}

}  // namespace lrkv
