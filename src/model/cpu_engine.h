// CpuEngine: the Llama forward pass on the CPU for a batch of sequences, prefill or decode alike.
// All tokens of all spans are projected together (one GEMM per weight), attention runs per
// sequence against the KV cache. Reads top to bottom like the paper:
//   x = embed(tokens)
//   per layer: h = rmsnorm(x); q,k,v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ; RoPE(q, k); cache <- k, v;
//              x += attention(q, cache)·Woᵀ; x += (silu(h'·Wgᵀ) ⊙ h'·Wuᵀ)·Wdᵀ with h' = rmsnorm(x)
//   logits = rmsnorm(x)·Woutᵀ
#pragma once

#include <memory>
#include <vector>

#include "cache/kv_cache_spec.h"
#include "cache/row_kv_cache.h"
#include "model/engine.h"
#include "model/hooks.h"
#include "model/latent_layer.h"
#include "model/model.h"

namespace lrkv {

class CpuEngine final : public Engine {
 public:
  // `model` must outlive the engine. A compressed model whose factors do not match its plan
  // leaves the engine unusable: status() says why and forward()/make_cache() return it.
  // factor_type f16/bf16: the latent factors' values rounded to that type (round_factors), the
  // numbers of an engine that stores them so (the CUDA engine's default).
  explicit CpuEngine(const Model& model, DType factor_type = DType::kF32);
  const LlamaConfig& config() const override { return cfg_; }
  const Model& model() const override { return model_; }
  std::string device() const override { return "cpu"; }
  const Status& status() const { return status_; }
  bool compressed() const override { return !latent_.empty(); }
  const std::vector<LatentLayer>& latent_layers() const { return latent_; }

  // The cache this model runs with (dense, or latent for a compressed model): n_seq sequences
  // of up to `capacity` tokens, stored as `spec` says (a DType converts to a float cache):
  // f32/f16/bf16 rows, q8_0/q4_0 rows, KIVI (dense models), quantized latents (compressed).
  Result<std::unique_ptr<KvCache>> make_cache(int n_seq, int capacity, const KvCacheSpec& spec = {}) const override;
  // A dense cache (uncompressed models only).
  Result<std::unique_ptr<RowKvCache>> make_dense_cache(int n_seq, int capacity,
                                                       DType dtype = DType::kF32) const;

  // Runs the spans (distinct sequences) through the model, appending to `cache` and committing
  // the new tokens. `logits` is resized to [rows, n_vocab] per `mode`. Activations that become
  // NaN/Inf are an error naming the first such layer (the residual stream is scanned after the
  // embedding and after every layer, the logits at the end: T x d_model floats per layer, ~1 ms
  // for 512 tokens of a 7B shape against seconds of GEMMs, µs against ms when decoding); the
  // cache is then left uncommitted.
  Status forward(const std::vector<SeqSpan>& spans, KvCache& cache, LogitsMode mode,
                 std::vector<float>* logits) override;

  // Activation hooks (see hooks.h); pass nullptr to remove.
  void set_hook(HookFn fn) { hook_ = std::move(fn); }

 private:
  Status check_spans(const std::vector<SeqSpan>& spans, const KvCache& cache) const;
  void embed(const std::vector<SeqSpan>& spans);
  Status check_cache(const KvCache& cache) const;  // a kind this engine runs, with the model's widths
  void attention_dense(int layer, const std::vector<SeqSpan>& spans, KvCache& cache);
  void attention_latent(int layer, const std::vector<SeqSpan>& spans, KvCache& cache);
  // Quantized caches (engine_quant_attention.cpp): write the span's rows, fill att_ / z_.
  void attend_dense_quantized(int layer, const std::vector<SeqSpan>& spans, KvCache& cache);
  void attend_latent_quantized(int layer, const std::vector<SeqSpan>& spans, KvCache& cache);
  void project_queries(int layer);  // q_ = RoPE(h_ Wqᵀ + bq), with hooks
  void absorb_queries(int layer);   // qk_ = per head P_gᵀ q_h (absorbed key mode)
  void ffn_layer(int layer);
  void compute_logits(const std::vector<SeqSpan>& spans, LogitsMode mode, std::vector<float>* logits);
  // Ok, or kInvalidArgument naming `layer` (-1: the token embeddings, n_layer: the logits), the
  // token and the dimension of the first NaN/Inf among `rows` x `cols` values at `data`.
  Status check_finite_rows(int layer, const float* data, int64_t rows, int64_t cols) const;
  void emit(int layer, HookPoint point, const float* data, int64_t cols, int64_t ld) const;

  const Model& model_;
  const LlamaConfig& cfg_;
  Status status_;
  std::vector<LatentLayer> latent_;  // empty for an uncompressed model
  std::vector<float> inv_freq_;  // [head_dim/2]
  HookFn hook_;
  // Per-call scratch, T = total tokens in the batch.
  int64_t T_ = 0;
  std::vector<int> pos_, seq_of_;             // [T]
  std::vector<float> x_, h_, q_, k_, v_, att_;  // x,h: [T, d]; q, att: [T, q_dim]; k, v: [T, kv_dim]
  std::vector<float> gate_, up_;                // [T, d_ff]
  std::vector<float> ck_, cv_, qk_, z_, krec_;   // latent path: key/value latents, absorbed
                                                // queries, attention output, rebuilt keys
  std::vector<float> cdec_;                      // quantized latent path: decoded key latents
};

}  // namespace lrkv
