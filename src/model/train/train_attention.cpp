// TrainForward's attention block, forward and backward, with the optional MatryoshkaKV
// projections between RoPE and the attention core.
#include <cmath>

#include "kernels/rope.h"
#include "model/train/train_forward.h"
#include "model/train/train_ops.h"

namespace lrkv {

using train_ops::linear;
using train_ops::linear_dw;
using train_ops::linear_dx;

namespace {

// RoPE over x [rows, n_heads*head_dim]; inverse = the transpose (backward of RoPE).
void rope_rows(float* x, int64_t rows, int n_heads, const LlamaConfig& c, const int* pos,
               const float* inv_freq, bool inverse) {
  RopeParams rp;
  rp.x = x;
  rp.rows = rows;
  rp.ld = int64_t{n_heads} * c.head_dim;
  rp.n_heads = n_heads;
  rp.head_dim = c.head_dim;
  rp.positions = pos;
  rp.inv_freq = inv_freq;
  rp.layout = c.rope_layout;
  rp.inverse = inverse;
  cpu::rope(rp);
}

float attn_scale(const LlamaConfig& c) { return 1.0f / std::sqrt(static_cast<float>(c.head_dim)); }

}  // namespace

void TrainForward::attention_forward(int l) {
  const TrainLayerWeights& w = w_.layers[l];
  LayerActs& A = acts_[l];
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  tap(fwd_hook_, l, HookPoint::kAttnInput, x_.data(), d);
  A.x = x_;  // [T, d]
  A.rstd1.resize(T_);
  A.h1.resize(T_ * d);
  train_ops::rmsnorm_forward(A.x.data(), w.attn_norm, T_, d, cfg_.norm_eps, A.h1.data(),
                             A.rstd1.data());
  tap(fwd_hook_, l, HookPoint::kKvInput, A.h1.data(), d);
  A.q.resize(T_ * qd);
  A.k.resize(T_ * kvd);
  A.v.resize(T_ * kvd);
  linear(A.h1.data(), d, T_, w.wq, qd, d, A.q.data(), qd);  // [T, q_dim]
  train_ops::add_bias(A.q.data(), qd, T_, w.bq, qd);
  tap(fwd_hook_, l, HookPoint::kQPreRope, A.q.data(), qd);
  rope_rows(A.q.data(), T_, cfg_.n_head, cfg_, pos_.data(), inv_freq_.data(), false);
  tap(fwd_hook_, l, HookPoint::kQPostRope, A.q.data(), qd);
  linear(A.h1.data(), d, T_, w.wk, kvd, d, A.k.data(), kvd);  // [T, kv_dim]
  linear(A.h1.data(), d, T_, w.wv, kvd, d, A.v.data(), kvd);  // [T, kv_dim]
  train_ops::add_bias(A.k.data(), kvd, T_, w.bk, kvd);
  train_ops::add_bias(A.v.data(), kvd, T_, w.bv, kvd);
  tap(fwd_hook_, l, HookPoint::kKPreRope, A.k.data(), kvd);
  tap(fwd_hook_, l, HookPoint::kV, A.v.data(), kvd);
  rope_rows(A.k.data(), T_, cfg_.n_kv_head, cfg_, pos_.data(), inv_freq_.data(), false);
  tap(fwd_hook_, l, HookPoint::kKPostRope, A.k.data(), kvd);

  A.att.resize(T_ * qd);
  A.lse.resize(cfg_.n_head * T_);
  if (proj_ == nullptr) {
    A.layout = dense_attn_layout(cfg_);
    causal_attention_forward(A.layout, seqs_, T_, attn_scale(cfg_), A.q.data(), A.k.data(),
                             A.v.data(), A.att.data(), A.lse.data());
  } else {
    A.layout = projected_attn_layout(cfg_, proj_->ranks_k(l), proj_->ranks_v(l));
    const AttnLayout& L = A.layout;
    A.qa.resize(T_ * L.q_ld);
    A.ka.resize(T_ * L.k_ld);
    A.va.resize(T_ * L.v_ld);
    A.za.resize(T_ * L.z_ld);
    kv_project_inputs(*proj_, l, L, T_, A.q.data(), A.k.data(), A.v.data(), A.qa.data(),
                      A.ka.data(), A.va.data());
    causal_attention_forward(L, seqs_, T_, attn_scale(cfg_), A.qa.data(), A.ka.data(), A.va.data(),
                             A.za.data(), A.lse.data());
    kv_project_output(*proj_, l, L, T_, A.za.data(), A.att.data());
  }
  tap(fwd_hook_, l, HookPoint::kAttnOutput, A.att.data(), qd);
  linear(A.att.data(), qd, T_, w.wo, d, qd, x_.data(), d, /*accumulate=*/true);
}

// dq_, dk_, dv_ hold pre-RoPE gradients; h1 is the shared input of W_q, W_k, W_v.
void TrainForward::qkv_weight_grads(int l, const BackwardOptions& o, LayerGradients* g) const {
  const LayerActs& A = acts_[l];
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  if (o.kv_weights) {
    g->wk.resize(kvd * d);
    g->wv.resize(kvd * d);
    linear_dw(dk_.data(), kvd, A.h1.data(), d, T_, kvd, d, g->wk.data(), false);  // [kv_dim, d]
    linear_dw(dv_.data(), kvd, A.h1.data(), d, T_, kvd, d, g->wv.data(), false);
    if (cfg_.qkv_bias) {
      g->bk.resize(kvd);
      g->bv.resize(kvd);
      train_ops::col_sums(dk_.data(), kvd, T_, kvd, g->bk.data(), false);
      train_ops::col_sums(dv_.data(), kvd, T_, kvd, g->bv.data(), false);
    }
  }
  if (o.qo_weights) {
    g->wq.resize(qd * d);
    linear_dw(dq_.data(), qd, A.h1.data(), d, T_, qd, d, g->wq.data(), false);  // [q_dim, d]
    if (cfg_.qkv_bias) {
      g->bq.resize(qd);
      train_ops::col_sums(dq_.data(), qd, T_, qd, g->bq.data(), false);
    }
  }
}

// In: dx_ = dL/d(residual after attention). Out: dx_ = dL/d(residual entering the layer).
void TrainForward::attention_backward(int l, const BackwardOptions& o, Gradients* grads) {
  const TrainLayerWeights& w = w_.layers[l];
  const LayerActs& A = acts_[l];
  const AttnLayout& L = A.layout;
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  datt_.resize(T_ * qd);
  linear_dx(dx_.data(), d, T_, w.wo, d, qd, datt_.data(), qd, false);  // [T, q_dim]
  if (o.qo_weights) {
    grads->layers[l].wo.resize(d * qd);
    linear_dw(dx_.data(), d, A.att.data(), qd, T_, d, qd, grads->layers[l].wo.data(),
              false);  // [d, q_dim]
  }
  tap(grad_hook_, l, HookPoint::kAttnOutput, datt_.data(), qd);
  dq_.resize(T_ * qd);
  dk_.resize(T_ * kvd);
  dv_.resize(T_ * kvd);
  if (proj_ == nullptr) {
    causal_attention_backward(L, seqs_, T_, attn_scale(cfg_), A.q.data(), A.k.data(), A.v.data(),
                              A.att.data(), A.lse.data(), datt_.data(), dq_.data(), dk_.data(),
                              dv_.data());
  } else {
    dza_.resize(T_ * L.z_ld);
    dqa_.resize(T_ * L.q_ld);
    dka_.resize(T_ * L.k_ld);
    dva_.resize(T_ * L.v_ld);
    kv_project_output_backward(*proj_, l, L, T_, A.za.data(), datt_.data(), dza_.data(),
                               grads->projections);
    causal_attention_backward(L, seqs_, T_, attn_scale(cfg_), A.qa.data(), A.ka.data(), A.va.data(),
                              A.za.data(), A.lse.data(), dza_.data(), dqa_.data(), dka_.data(),
                              dva_.data());
    kv_project_inputs_backward(*proj_, l, L, T_, A.q.data(), A.k.data(), A.v.data(), dqa_.data(),
                               dka_.data(), dva_.data(), dq_.data(), dk_.data(), dv_.data(),
                               grads->projections);
  }
  tap(grad_hook_, l, HookPoint::kQPostRope, dq_.data(), qd);
  tap(grad_hook_, l, HookPoint::kKPostRope, dk_.data(), kvd);
  tap(grad_hook_, l, HookPoint::kV, dv_.data(), kvd);
  rope_rows(dq_.data(), T_, cfg_.n_head, cfg_, pos_.data(), inv_freq_.data(), /*inverse=*/true);
  rope_rows(dk_.data(), T_, cfg_.n_kv_head, cfg_, pos_.data(), inv_freq_.data(), /*inverse=*/true);
  tap(grad_hook_, l, HookPoint::kQPreRope, dq_.data(), qd);
  tap(grad_hook_, l, HookPoint::kKPreRope, dk_.data(), kvd);
  qkv_weight_grads(l, o, &grads->layers[l]);
  dh_.resize(T_ * d);  // dL/dh1 [T, d] = dq Wq + dk Wk + dv Wv
  linear_dx(dq_.data(), qd, T_, w.wq, qd, d, dh_.data(), d, false);
  linear_dx(dk_.data(), kvd, T_, w.wk, kvd, d, dh_.data(), d, true);
  linear_dx(dv_.data(), kvd, T_, w.wv, kvd, d, dh_.data(), d, true);
  tap(grad_hook_, l, HookPoint::kKvInput, dh_.data(), d);
  train_ops::rmsnorm_backward(A.x.data(), w.attn_norm, A.rstd1.data(), dh_.data(), T_, d,
                              dx_.data());
  tap(grad_hook_, l, HookPoint::kAttnInput, dx_.data(), d);
}

}  // namespace lrkv
