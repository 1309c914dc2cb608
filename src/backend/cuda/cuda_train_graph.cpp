// CudaTrainGraph: creation, the forward pass, the loss and the backward pass outside attention
// (attention, projections: cuda_train_attention.cpp).
#include "backend/cuda/cuda_train_graph.h"

#include <algorithm>
#include <cmath>

#include "backend/cuda/cuda_train_graph_impl.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/train_kernels.h"

namespace lrkv::cuda {

#define LRKV_BUF(var, buf, n) LRKV_ASSIGN_OR_RETURN(float* var, ensure_floats(buf, n))

CudaTrainGraph::~CudaTrainGraph() = default;

Result<std::unique_ptr<CudaTrainGraph>> CudaTrainGraph::create(const Model& model,
                                                               std::shared_ptr<CudaTrainContext> ctx) {
  std::unique_ptr<CudaTrainGraph> g(new CudaTrainGraph());
  g->cfg_ = model.config;
  g->ctx_ = std::move(ctx);
  LRKV_ASSIGN_OR_RETURN(g->w_, g->ctx_->weights(model));
  g->m_ = std::make_unique<Impl>();
  std::vector<float> inv_freq(g->cfg_.head_dim / 2);
  rope_inverse_frequencies(g->cfg_, inv_freq.data());
  LRKV_ASSIGN_OR_RETURN(g->m_->inv_freq, DeviceBuffer::from_host(inv_freq));
  return g;
}

Status CudaTrainGraph::set_projections(const KvProjections* projections) {
  if (projections != nullptr) LRKV_RETURN_IF_ERROR(projections->validate(cfg_));
  proj_ = projections;
  have_forward_ = false;
  return Status::Ok();
}

void CudaTrainGraph::set_needs_backward(bool needed) {
  needs_backward_ = needed;
  have_forward_ = false;
}

Status CudaTrainGraph::forward(const TokenBatch& batch) {
  have_forward_ = false;
  if (batch.empty()) return make_error(ErrorCode::kInvalidArgument, "training forward: empty batch");
  tokens_.clear();
  seqs_.clear();
  std::vector<int> pos;
  n_max_ = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    if (batch[s].empty())
      return make_error(ErrorCode::kInvalidArgument, "training forward: sequence {} of the batch is empty", s);
    for (int t : batch[s]) {
      if (t < 0 || t >= cfg_.n_vocab) {
        return make_error(ErrorCode::kInvalidArgument,
                          "training forward: sequence {}: token id {} outside the vocabulary of {}", s, t,
                          cfg_.n_vocab);
      }
    }
    const int64_t n = static_cast<int64_t>(batch[s].size());
    seqs_.push_back({static_cast<int64_t>(tokens_.size()), n});
    tokens_.insert(tokens_.end(), batch[s].begin(), batch[s].end());
    for (int64_t i = 0; i < n; ++i) pos.push_back(static_cast<int>(i));
    n_max_ = std::max(n_max_, n);
  }
  if (proj_ != nullptr) LRKV_RETURN_IF_ERROR(proj_->validate(cfg_));  // ranks may have changed
  T_ = static_cast<int64_t>(tokens_.size());
  const int64_t d = cfg_.d_model, V = cfg_.n_vocab;
  const cudaStream_t st = ctx_->stream();
  LRKV_ASSIGN_OR_RETURN(void* tok, ensure_bytes(m_->tokens, tokens_.size() * sizeof(int)));
  LRKV_ASSIGN_OR_RETURN(void* pd, ensure_bytes(m_->pos, pos.size() * sizeof(int)));
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(tok, tokens_.data(), tokens_.size() * sizeof(int),
                                            cudaMemcpyHostToDevice, st), "upload tokens");
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(pd, pos.data(), pos.size() * sizeof(int), cudaMemcpyHostToDevice, st),
                            "upload positions");
  m_->layers.resize(needs_backward_ ? cfg_.n_layer : 1);
  LRKV_BUF(x, m_->x, T_ * d);
  LRKV_CUDA_RETURN_IF_ERROR(launch_embedding(w_->ptr.tok_embd, DType::kF32, d, static_cast<int*>(tok), T_, x, d, st),
                            "embedding");
  if (proj_ != nullptr) LRKV_RETURN_IF_ERROR(upload_projections());
  for (int l = 0; l < cfg_.n_layer; ++l) {
    LRKV_RETURN_IF_ERROR(attention_forward(l));
    LRKV_RETURN_IF_ERROR(ffn_forward(l));
  }
  LRKV_BUF(rstdf, m_->rstdf, T_);
  LRKV_BUF(hf, m_->hf, T_ * d);
  LRKV_CUDA_RETURN_IF_ERROR(launch_rmsnorm_rstd(x, w_->ptr.out_norm, T_, d, cfg_.norm_eps, hf, rstdf, st),
                            "final rmsnorm");
  LRKV_BUF(logits, m_->logits, T_ * V);
  LRKV_RETURN_IF_ERROR(ctx_->linear(hf, T_, w_->ptr.head, V, d, logits, false));  // [T, V]
  logits_ = logits;
  have_forward_ = true;
  return Status::Ok();
}

Status CudaTrainGraph::ffn_forward(int l) {
  const TrainLayerWeights& w = w_->ptr.layers[l];
  Impl::Layer& A = m_->layer(l);
  const int64_t d = cfg_.d_model, ff = cfg_.d_ff;
  const cudaStream_t st = ctx_->stream();
  float* x = m_->x.as<float>();
  LRKV_BUF(xm, A.xm, T_ * d);
  LRKV_BUF(rstd2, A.rstd2, T_);
  LRKV_BUF(h2, A.h2, T_ * d);
  LRKV_BUF(gate, A.gate, T_ * ff);
  LRKV_BUF(up, A.up, T_ * ff);
  LRKV_BUF(a, m_->dff, T_ * ff);
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(xm, x, T_ * d * sizeof(float), cudaMemcpyDeviceToDevice, st), "copy");
  LRKV_CUDA_RETURN_IF_ERROR(launch_rmsnorm_rstd(xm, w.ffn_norm, T_, d, cfg_.norm_eps, h2, rstd2, st), "ffn rmsnorm");
  LRKV_RETURN_IF_ERROR(ctx_->linear(h2, T_, w.w_gate, ff, d, gate, false));  // [T, ff]
  LRKV_RETURN_IF_ERROR(ctx_->linear(h2, T_, w.w_up, ff, d, up, false));      // [T, ff]
  LRKV_CUDA_RETURN_IF_ERROR(launch_swiglu(gate, up, a, T_, ff, ff, st), "swiglu");
  return ctx_->linear(a, T_, w.w_down, d, ff, x, /*accumulate=*/true);
}

// In: dx = dL/d(residual after the FFN). Out: dx = dL/d(residual after attention).
Status CudaTrainGraph::ffn_backward(int l) {
  const TrainLayerWeights& w = w_->ptr.layers[l];
  Impl::Layer& A = m_->layer(l);
  const int64_t d = cfg_.d_model, ff = cfg_.d_ff;
  const cudaStream_t st = ctx_->stream();
  float* dx = m_->dx.as<float>();
  LRKV_BUF(dff, m_->dff, T_ * ff);
  LRKV_BUF(dff2, m_->dff2, T_ * ff);
  LRKV_BUF(dh, m_->dh, T_ * d);
  LRKV_RETURN_IF_ERROR(ctx_->linear_dx(dx, T_, w.w_down, d, ff, dff, false));  // da [T, ff]
  LRKV_CUDA_RETURN_IF_ERROR(
      launch_swiglu_backward(A.gate.as<float>(), A.up.as<float>(), dff, T_ * ff, dff, dff2, st), "swiglu backward");
  LRKV_RETURN_IF_ERROR(ctx_->linear_dx(dff, T_, w.w_gate, ff, d, dh, false));  // dL/dh2 [T, d]
  LRKV_RETURN_IF_ERROR(ctx_->linear_dx(dff2, T_, w.w_up, ff, d, dh, true));
  LRKV_CUDA_RETURN_IF_ERROR(
      launch_rmsnorm_backward(A.xm.as<float>(), w.ffn_norm, A.rstd2.as<float>(), dh, T_, d, dx, st),
      "ffn rmsnorm backward");
  return Status::Ok();
}

Result<std::vector<float>> CudaTrainGraph::logits() const {
  if (!have_forward_) return make_error(ErrorCode::kInvalidArgument, "training forward: no logits yet");
  std::vector<float> out(static_cast<size_t>(T_ * cfg_.n_vocab));
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out.data(), logits_, out.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                            ctx_->stream()),
                            "download logits");
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_->stream()), "training stream");
  return out;
}

Result<LossValue> CudaTrainGraph::loss_backward(const LossOptions& loss, TrainGraph* teacher,
                                                const BackwardOptions& options, Gradients* grads) {
  if (!have_forward_) {
    return make_error(ErrorCode::kInvalidArgument,
                      "training loss: no forward to differentiate (run forward() first, after any set_projections())");
  }
  if (!needs_backward_)
    return make_error(ErrorCode::kInvalidArgument, "training loss: this graph was made forward-only");
  if (grads == nullptr) return make_error(ErrorCode::kInvalidArgument, "training backward: null gradients");
  const CudaTrainGraph* t = nullptr;
  if (teacher != nullptr) {
    t = dynamic_cast<const CudaTrainGraph*>(teacher);
    if (t == nullptr || t == this) {
      return make_error(ErrorCode::kInvalidArgument, "training loss: the teacher must be another CUDA graph (got {})",
                        t == this ? "the student itself" : teacher->device());
    }
    if (!t->have_forward_)
      return make_error(ErrorCode::kInvalidArgument, "training loss: the teacher has not run forward()");
  }
  if (loss.kl_weight > 0.0f && t == nullptr)
    return make_error(ErrorCode::kInvalidArgument, "loss: KL weight {} needs a teacher", loss.kl_weight);
  if (t != nullptr && t->tokens() != tokens_)
    return make_error(ErrorCode::kInvalidArgument, "training loss: the teacher's last forward ran a different batch");
  LRKV_ASSIGN_OR_RETURN(LossRows rows, loss_rows(seqs_, tokens_, loss));  // next_token_loss's rules
  const cudaStream_t st = ctx_->stream();
  LRKV_ASSIGN_OR_RETURN(void* tg, ensure_bytes(m_->targets, T_ * sizeof(int)));
  LRKV_ASSIGN_OR_RETURN(void* km, ensure_bytes(m_->klmask, T_));
  LRKV_ASSIGN_OR_RETURN(void* ce, ensure_bytes(m_->ce, T_ * sizeof(double)));
  LRKV_ASSIGN_OR_RETURN(void* kl, ensure_bytes(m_->kl, T_ * sizeof(double)));
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(tg, rows.target.data(), T_ * sizeof(int), cudaMemcpyHostToDevice, st),
                            "targets");
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(km, rows.kl.data(), T_, cudaMemcpyHostToDevice, st), "kl rows");
  LRKV_CUDA_RETURN_IF_ERROR(launch_next_token_loss(logits_, t ? t->device_logits() : nullptr, T_, cfg_.n_vocab,
                                                   static_cast<int*>(tg), static_cast<uint8_t*>(km), rows.a, rows.b,
                                                   static_cast<double*>(ce), static_cast<double*>(kl), st),
                            "next-token loss");
  std::vector<double> ce_h(T_), kl_h(T_);
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ce_h.data(), ce, T_ * sizeof(double), cudaMemcpyDeviceToHost, st), "ce");
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(kl_h.data(), kl, T_ * sizeof(double), cudaMemcpyDeviceToHost, st), "kl");
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(st), "loss");
  double ce_sum = 0.0, kl_sum = 0.0;
  for (int64_t r = 0; r < T_; ++r) {
    ce_sum += ce_h[r];
    kl_sum += kl_h[r];
  }
  const LossValue out = finish_loss(rows, ce_sum, kl_sum, loss);
  if (!std::isfinite(out.total))
    return make_error(ErrorCode::kInvalidArgument, "training loss is not finite ({})", out.total);

  // Backward: LM head, final RMSNorm, layers in reverse.
  const int64_t d = cfg_.d_model, V = cfg_.n_vocab;
  grads->layers.assign(cfg_.n_layer, LayerGradients{});
  grads->projections = proj_ != nullptr ? KvProjections::zeros_like(*proj_) : KvProjections{};
  LRKV_BUF(dh, m_->dh, T_ * d);
  LRKV_BUF(dx, m_->dx, T_ * d);
  LRKV_RETURN_IF_ERROR(ctx_->linear_dx(logits_, T_, w_->ptr.head, V, d, dh, false));  // dL/dhf
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(dx, 0, T_ * d * sizeof(float), st), "memset");
  LRKV_CUDA_RETURN_IF_ERROR(
      launch_rmsnorm_backward(m_->x.as<float>(), w_->ptr.out_norm, m_->rstdf.as<float>(), dh, T_, d, dx, st),
      "final rmsnorm backward");
  for (int l = cfg_.n_layer - 1; l >= 0; --l) {
    LRKV_RETURN_IF_ERROR(ffn_backward(l));
    LRKV_RETURN_IF_ERROR(attention_backward(l, options, grads));
  }
  if (proj_ != nullptr) LRKV_RETURN_IF_ERROR(download_projection_grads(grads));
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(st), "training backward");
  return out;
}

Status CudaTrainGraph::weights_changed(int layer, char which) {
  if (layer < 0 || layer >= cfg_.n_layer)
    return make_error(ErrorCode::kInvalidArgument, "weights_changed: layer {} out of range", layer);
  const LayerWeights& s = w_->model->weights.layers[layer];
  TrainLayerWeights& dp = w_->ptr.layers[layer];
  const Tensor* t = nullptr;
  const float* dst = nullptr;
  switch (which) {
    case 'q': t = &s.wq, dst = dp.wq; break;
    case 'k': t = &s.wk, dst = dp.wk; break;
    case 'v': t = &s.wv, dst = dp.wv; break;
    case 'o': t = &s.wo, dst = dp.wo; break;
    case 'Q': t = &s.bq, dst = dp.bq; break;
    case 'K': t = &s.bk, dst = dp.bk; break;
    case 'V': t = &s.bv, dst = dp.bv; break;
    default: return make_error(ErrorCode::kInvalidArgument, "weights_changed: unknown weight '{}'", which);
  }
  if (t->empty() || dst == nullptr) return Status::Ok();
  if (t->dtype() != DType::kF32) {
    return make_error(ErrorCode::kInvalidArgument, "weights_changed: blk.{} weight '{}' is {}, expected f32", layer,
                      which, dtype_name(t->dtype()));
  }
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(const_cast<float*>(dst), t->data_as<float>(), t->numel() * sizeof(float),
                                            cudaMemcpyHostToDevice, ctx_->stream()),
                            "upload tuned weight");
  return cuda_status(cudaStreamSynchronize(ctx_->stream()), "upload tuned weight");
}

TrainGraphFactory cuda_train_graphs() {
  auto ctx = std::make_shared<std::shared_ptr<CudaTrainContext>>();
  return [ctx](const Model& model) -> Result<std::unique_ptr<TrainGraph>> {
    if (!*ctx) {
      LRKV_ASSIGN_OR_RETURN(*ctx, CudaTrainContext::create());
    }
    LRKV_ASSIGN_OR_RETURN(std::unique_ptr<CudaTrainGraph> g, CudaTrainGraph::create(model, *ctx));
    return std::unique_ptr<TrainGraph>(std::move(g));
  };
}

}  // namespace lrkv::cuda
