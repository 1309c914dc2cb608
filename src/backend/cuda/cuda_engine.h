// CudaEngine: the Llama forward pass on one GPU for a batch of sequences, prefill or decode, the
// same maths as the CPU Engine (model/engine.h) including compressed models (latent_layer.h):
//   x = embed(tokens)
//   per layer: h = rmsnorm(x); q,k,v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ (cuBLAS, 16-bit weights, f32 accumulate);
//              RoPE(q, k); cache <- k, v; x += attention(q, cache)·Woᵀ;
//              x += (silu(h'·Wgᵀ) ⊙ h'·Wuᵀ)·Wdᵀ with h' = rmsnorm(x)
//   logits = rmsnorm(x)·Woutᵀ
// Dense models keep a head-major f16/bf16 cache ([seq][kv head][token][head_dim]) read by the
// split-K flash-decoding kernel; compressed models keep latent rows ([seq][token][Σ rank]) read by
// the rebuild-keys or absorbed latent kernels. Activations stay f32; GEMM inputs go to the tensor
// cores as hi + lo 16-bit halves (CudaEngineOptions::split_activations) or rounded to the weight
// type. One stream; not thread-safe. Hooks are not supported.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "backend/cuda/cublas_gemm.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/device_pool.h"
#include "model/engine.h"
#include "model/latent_layer.h"
#include "model/model.h"

namespace lrkv::cuda {

struct CudaEngineOptions {
  DType weight_dtype = DType::kBF16;  // matrices and latent factors used in GEMMs (bf16/f16)
  DType cache_dtype = DType::kBF16;   // KV cache elements (bf16/f16)
  // GEMM inputs as hi + lo 16-bit halves (f32-faithful activations, 2x tensor FLOPs; see
  // cublas_gemm.h); false rounds activations to the weight type.
  bool split_activations = true;
  // Latent factors (k_down, v_down, Pᵀ, folded W_o): f32 by default, as the CPU engine keeps
  // them (at 50% budget they take the bytes of the bf16 W_k, W_v, W_o they replace).
  DType factor_dtype = DType::kF32;
};

class CudaEngine {
 public:
  // Uploads the weights (converted to options.weight_dtype); `model` must outlive the engine.
  static Result<std::unique_ptr<CudaEngine>> create(const Model& model, const CudaEngineOptions& options = {});
  ~CudaEngine();
  CudaEngine(const CudaEngine&) = delete;
  CudaEngine& operator=(const CudaEngine&) = delete;

  const LlamaConfig& config() const { return cfg_; }
  bool compressed() const { return !latent_.empty(); }
  // (Re)allocates the device cache for n_seq sequences of up to `capacity` tokens, all empty.
  Status reset_cache(int n_seq, int capacity);
  int length(int seq) const { return lengths_[seq]; }
  int64_t cache_bytes() const;
  // Runs the spans (distinct sequences) through the model, appending to the cache. `logits` is
  // resized to [rows, n_vocab] per `mode` (as Engine::forward). Synchronous.
  Status forward(const std::vector<SeqSpan>& spans, LogitsMode mode, std::vector<float>* logits);

  // Device weights: [rows, cols] row-major in `type`.
  struct Matrix {
    DeviceBuffer buf;
    DType type = DType::kF32;
    int64_t rows = 0, cols = 0;
  };
  struct Layer {
    DeviceBuffer attn_norm, ffn_norm, bq, bk, bv;  // f32 vectors (biases may be empty)
    Matrix wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  struct LatentFactors {
    Matrix k_down, v_down, wo_folded;
    std::vector<Matrix> k_proj_t;                 // absorbed: per group Pᵀ [r_k, s*hd]
    std::vector<DeviceBuffer> k_up;               // rebuild: per group B_g [s*hd, r_k] f32
    std::vector<const float*> k_up_ptrs;
    DeviceBuffer k_down_bias, k_up_bias, k_mean, v_down_bias, o_bias;  // f32, may be empty
  };
  // Per-call activations (pool scratch), T = tokens in the batch.
  struct Step;

 private:
  CudaEngine(const Model& model, const CudaEngineOptions& options);
  Status upload();
  Status check_spans(const std::vector<SeqSpan>& spans) const;
  Status project(const float* x, int64_t ldx, int64_t m, const Matrix& w, float* y, int64_t ldy,
                 bool accumulate = false, int64_t w_row0 = 0, int64_t n = -1, int64_t k = -1, int64_t w_col0 = 0);
  Status project_queries(int l, Step& st);
  Status attention_dense(int l, Step& st);
  Status attention_latent(int l, Step& st);
  Status latent_keys(int l, Step& st);  // ck (and qk for absorbed keys) of the new tokens
  Status ffn(int l, Step& st);
  Status logits_out(Step& st, LogitsMode mode, std::vector<float>* logits);

  const Model& model_;
  const LlamaConfig& cfg_;
  CudaEngineOptions opt_;
  std::vector<LatentLayer> latent_;  // host metadata of a compressed model
  Matrix tok_embd_, output_;
  DeviceBuffer out_norm_, inv_freq_;
  std::vector<Layer> layers_;
  std::vector<LatentFactors> factors_;
  cudaStream_t stream_ = nullptr;
  DevicePool pool_;
  std::unique_ptr<CublasGemm> gemm_;
  int n_seq_ = 0, capacity_ = 0;
  std::vector<int> lengths_;
  std::vector<DeviceBuffer> k_cache_, v_cache_;  // per layer
};

}  // namespace lrkv::cuda
