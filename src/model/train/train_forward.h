// TrainForward: the Llama forward pass for training and calibration (CPU, fp32), keeping the
// activations its backward pass needs. Separate from the inference Engine: no KV cache, every
// sequence of the batch attends causally over itself from position 0. Reads like the paper:
//   x = embed(tokens)
//   per layer: h = rmsnorm(x); q, k, v = h·Wqᵀ + bq, h·Wkᵀ + bk, h·Wvᵀ + bv; RoPE(q, k);
//              [MatryoshkaKV projections, kv_projection.h]; att = causal_attention(q, k, v);
//              x += att·Woᵀ; x += (silu(h'·Wgᵀ) ⊙ h'·Wuᵀ)·Wdᵀ with h' = rmsnorm(x)
//   logits = rmsnorm(x)·Woutᵀ
// backward() takes dL/dlogits and returns the requested weight and projection gradients; the
// gradient at every named point (hooks.h) is reported to the gradient hook as it is computed.
// Memory: per layer ~(4·d + 2·q_dim + 2·kv_dim + 2·d_ff) floats per token (plus the projected
// q/k/v/z with projections), logits [T, n_vocab], and f32 copies of f16/bf16 weights.
// Not thread-safe; one forward/backward at a time.
#pragma once

#include <functional>
#include <vector>

#include "model/hooks.h"
#include "model/model.h"
#include "model/train/causal_attention.h"
#include "model/train/kv_projection.h"
#include "model/train/train_graph.h"
#include "model/train/train_weights.h"

namespace lrkv {

// A tap at a named point: `data` [rows, cols] contiguous (activation in the forward hook,
// dL/d(activation) in the gradient hook). Writing to it changes what flows on (finite-difference
// tests perturb activations this way). layer = -1 for kFinalHidden.
using TrainHookFn =
    std::function<void(int layer, HookPoint point, float* data, int64_t rows, int64_t cols)>;

class TrainForward final : public TrainGraph {
 public:
  // `model` must outlive the object (its f32 weights are read in place, see train_weights.h).
  static Result<TrainForward> create(const Model& model);
  const LlamaConfig& config() const override { return cfg_; }
  std::string device() const override { return "cpu"; }

  // MatryoshkaKV projections applied in every layer, or nullptr for none. Read by each forward
  // (ranks may change between steps); must not change between a forward and its backward.
  Status set_projections(const KvProjections* projections) override;
  void set_forward_hook(TrainHookFn fn) { fwd_hook_ = std::move(fn); }
  void set_grad_hook(TrainHookFn fn) { grad_hook_ = std::move(fn); }

  // Runs the batch; logits() holds [T, n_vocab], T = total tokens, sequences in order.
  Status forward(const TokenBatch& batch) override;
  int64_t rows() const { return T_; }
  const std::vector<SeqRange>& sequences() const { return seqs_; }
  const std::vector<int>& tokens() const { return tokens_; }  // [T] the batch, flattened
  std::vector<float>& logits() { return logits_; }            // may be overwritten by dL/dlogits

  // Back-propagates dlogits [T, n_vocab] of the last forward (may point into logits()).
  // Overwrites `grads` with the gradients `options` asks for.
  Status backward(const float* dlogits, const BackwardOptions& options, Gradients* grads);
  // TrainGraph: next_token_loss on logits() (teacher: a TrainForward), then backward().
  Result<LossValue> loss_backward(const LossOptions& loss, TrainGraph* teacher,
                                  const BackwardOptions& options, Gradients* grads) override;

 private:
  struct LayerActs {
    std::vector<float> x;               // [T, d] residual entering the layer
    std::vector<float> rstd1, h1;       // [T], [T, d] attention RMSNorm (h1 = K/V input)
    std::vector<float> q;               // [T, q_dim] post-RoPE
    std::vector<float> k, v;            // [T, kv_dim] k post-RoPE
    std::vector<float> att;             // [T, q_dim] attention output (W_o input)
    std::vector<float> lse;             // [n_head, T] softmax log-normalisers
    AttnLayout layout;                  // attention space of this forward
    std::vector<float> qa, ka, va, za;  // projected attention space (projections only)
    std::vector<float> xm;              // [T, d] residual after attention
    std::vector<float> rstd2, h2;       // [T], [T, d] FFN RMSNorm
    std::vector<float> gate, up;        // [T, d_ff] pre-activation
  };

  TrainForward(const Model& model, TrainWeights w);
  Status check_batch(const TokenBatch& batch) const;
  void tap(const TrainHookFn& fn, int layer, HookPoint p, float* data, int64_t cols) const;
  void attention_forward(int layer);
  void ffn_forward(int layer);
  void attention_backward(int layer, const BackwardOptions& o, Gradients* g);
  void ffn_backward(int layer);
  void qkv_weight_grads(int layer, const BackwardOptions& o, LayerGradients* g) const;

  LlamaConfig cfg_;
  TrainWeights w_;
  std::vector<float> inv_freq_;  // [head_dim/2]
  const KvProjections* proj_ = nullptr;
  TrainHookFn fwd_hook_, grad_hook_;
  // State of the last forward.
  int64_t T_ = 0;
  std::vector<int> tokens_, pos_;  // [T]
  std::vector<SeqRange> seqs_;
  std::vector<LayerActs> acts_;    // [n_layer]
  std::vector<float> x_;           // [T, d] running residual
  std::vector<float> rstdf_, hf_;  // [T], [T, d] final RMSNorm
  std::vector<float> logits_;      // [T, n_vocab]
  bool have_forward_ = false;
  // Backward scratch.
  std::vector<float> dx_, dh_, dq_, dk_, dv_, datt_, dff_, dff2_;
  std::vector<float> dqa_, dka_, dva_, dza_;
};

}  // namespace lrkv
