// CudaTrainGraph: the training forward/backward of TrainForward (model/train/train_forward.h) on
// one GPU, fp32 throughout, with device-resident weights, activations and logits:
//   x = embed(tokens); per layer: h = rmsnorm(x); q, k, v = h·W{q,k,v}ᵀ + b; RoPE(q, k);
//   [MatryoshkaKV projections]; att = causal_attention(q, k, v); x += att·W_oᵀ;
//   x += (silu(h'·W_gᵀ) ⊙ h'·W_uᵀ)·W_dᵀ;  logits = rmsnorm(x)·W_outᵀ
// GEMMs on cuBLAS (fp32 FMA, no TF32); attention per sequence as batched GEMMs over heads with a
// materialised causal softmax (scores [n_head, n, n] scratch, recomputed in backward, so memory is
// O(n²) per sequence, not per layer). Projections run in a padded layout: every head slice is
// head_dim wide and U's columns at and beyond the rank are zero, which gives the same scores and
// outputs as the packed layout of the CPU graph. The loss (losses.h) runs on the device against
// the teacher graph's device logits; gradients come back to host memory (projections: dU, dmu;
// recovery tuning: W_q, W_k, W_v, W_o and biases). Hooks are not supported (use the CPU graph).
// Memory: the CPU graph's activations (train_forward.h) in device memory plus 2·n_head·n² floats
// of scores for the longest sequence; a graph with set_needs_backward(false) (the teacher) keeps
// one layer's activations.
#pragma once

#include <memory>

#include "backend/cuda/cuda_train_context.h"
#include "model/train/train_graph.h"

namespace lrkv::cuda {

class CudaTrainGraph final : public TrainGraph {
 public:
  static Result<std::unique_ptr<CudaTrainGraph>> create(const Model& model,
                                                        std::shared_ptr<CudaTrainContext> ctx);
  ~CudaTrainGraph() override;
  const LlamaConfig& config() const override { return cfg_; }
  std::string device() const override { return "cuda"; }
  Status set_projections(const KvProjections* projections) override;
  void set_needs_backward(bool needed) override;
  Status forward(const TokenBatch& batch) override;
  Result<LossValue> loss_backward(const LossOptions& loss, TrainGraph* teacher, const BackwardOptions& options,
                                  Gradients* grads) override;
  Status weights_changed(int layer, char which) override;

  // Logits [T, n_vocab] of the last forward (or dL/dlogits after loss_backward), copied to host.
  Result<std::vector<float>> logits() const;
  const float* device_logits() const { return logits_; }
  const std::vector<int>& tokens() const { return tokens_; }

  struct Impl;  // device buffers (cuda_train_graph.cpp)

 private:
  CudaTrainGraph() = default;
  Status attention_forward(int layer);
  Status attention_core_forward(const float* q, const float* k, const float* v, float* z);
  Status attention_core_backward(const float* q, const float* k, const float* v, const float* z, const float* dz,
                                 float* dq, float* dk, float* dv);
  Status ffn_forward(int layer);
  Status attention_backward(int layer, const BackwardOptions& o, Gradients* g);
  Status ffn_backward(int layer);
  Status upload_projections();
  Status download_projection_grads(Gradients* g);

  LlamaConfig cfg_;
  std::shared_ptr<CudaTrainContext> ctx_;
  std::shared_ptr<DeviceTrainWeights> w_;
  std::unique_ptr<Impl> m_;
  const KvProjections* proj_ = nullptr;
  bool needs_backward_ = true, have_forward_ = false;
  int64_t T_ = 0, n_max_ = 0;
  std::vector<int> tokens_;
  std::vector<SeqRange> seqs_;
  float* logits_ = nullptr;  // device [T, n_vocab]
};

// A factory whose graphs share one context (stream, cuBLAS, per-model weights).
TrainGraphFactory cuda_train_graphs();

}  // namespace lrkv::cuda
