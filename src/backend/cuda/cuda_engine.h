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
// cores as hi + lo 16-bit halves in decode-sized GEMMs and rounded to the weight type in prompt
// chunks (CudaEngineOptions::exact_gemm_rows). Caches (CudaKvCache) come from make_cache:
// f16/bf16 rows, or quantized latents for a compressed model with absorbed keys
// (KvCacheSpec::latent), whole-context slots or paged (KvCacheSpec::paging). One stream; not
// thread-safe. CPU hooks are not supported (calibration: set_device_hook).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/cuda/cublas_gemm.h"
#include "backend/cuda/cuda_kv_cache.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/device_pool.h"
#include "kernels/cuda/quant_latent_attention.h"
#include "kernels/quant_row.h"
#include "model/engine.h"
#include "model/hooks.h"
#include "model/latent_layer.h"
#include "model/model.h"
#include "model/sampler.h"

namespace lrkv::cuda {

struct RopeQkParams;  // kernels/cuda/elementwise.h
struct CacheWriteParams;  // kernels/cuda/elementwise_kernels.h
struct SkinnyRope;        // kernels/cuda/skinny_matmul_args.h

struct CudaEngineOptions {
  DType weight_dtype = DType::kBF16;  // matrices and latent factors used in GEMMs (bf16/f16)
  // GEMMs of at most this many activation rows keep f32-faithful inputs: hi + lo 16-bit halves
  // for 16-bit weights, full f32 for f32 factors (see cublas_gemm.h). Those GEMMs are bound by
  // the weight bytes, so exactness is nearly free there (decode steps, small batches). Larger
  // GEMMs (prompt chunks) are bound by tensor FLOPs: their inputs are rounded to the weight type
  // (TF32 for f32 factors), as in llama.cpp and vLLM, which halves their time.
  // kAllRows: always exact; 0: always rounded. LRKV_EXACT_GEMM_ROWS overrides it (benchmarks).
  static constexpr int64_t kAllRows = INT64_MAX;
  int64_t exact_gemm_rows = 64;
  // Latent factors (k_down, v_down, Pᵀ, folded W_o) in the weight type (default), or f32 as the
  // CPU engine keeps them. In the weight type a decode step reads half their bytes and k_down /
  // v_down join the W_q|W_k projection (one launch fewer per layer); the rounding is the same
  // relative 2^-8 (bf16) the weights themselves carry. LRKV_FACTOR_DTYPE=f32|weight overrides it
  // (A/B runs). Factors that do not fit an f16 weight type stay f32, with a note in the log.
  bool f32_factors = false;
  // Decode steps (one new token per sequence, up to graph_max_seqs sequences) replay a CUDA graph
  // of the whole step, captured once per (cache, sequences, attention plan bucket): one launch
  // instead of hundreds. Off: every step launches its kernels one by one.
  bool cuda_graphs = true;
  // Up to 8 sequences the step's projections are skinny_matmul launches; more rows go to cuBLAS,
  // whose GEMMs are captured with the rest (cuBLAS 12.2+ takes its workspace stream-ordered, so a
  // capture needs no explicit one). Graphs against eager steps, H100, Llama-3-8B shape
  // (bench/CUDA_NOTES.md part 19): b = 16 fp16 latents +9.8% / +4.8% (4K / 32K), int4 +11.3% /
  // +6.8%; b = 32 at 4K dense +7.6%, int4 +12.7%. Each graph keeps an arena of ~2x its step's
  // buffers (kMaxGraphs of them). LRKV_GRAPH_SEQS=N overrides the limit.
  int graph_max_seqs = 32;
  // Decode steps of absorbed latents: RoPE of q and k, the key mean, the key latents, the query
  // absorption and the cache writes of both latents (fp16 rows or int4/int8 codes) in one
  // segment_project launch instead of three (rope_qk, segment_project, cache_write or
  // quant_encode_rows). Measured on an H200, Llama-3-8B shape, b = 1 (bench/CUDA_NOTES.md part 14):
  // fp16 latents +2.7% (4K) / +1.9% (32K) end to end; int4 latents +0.4% / -0.1% at b = 1 and
  // -1.1% at b = 16 (the last CTA of each segment encodes it, a serial tail), so quantized caches
  // keep the separate encoder. LRKV_FUSED_ABSORB=0|1 sets both.
  bool fused_absorption = true;            // fp16/bf16 latent caches
  bool fused_absorption_quantized = false;  // int4/int8 latent caches
  // The split-K attention kernels (dense rows, fp16/bf16 latents, rebuilt keys, the int4/int8
  // register-fragment kernel) start copying their first tiles
  // of rows older than the step before waiting for the kernel that writes the queries and the new
  // rows (LatentAttentionBatch::early_rows), so they stream during that kernel's tail. Same
  // logits bit for bit; on an H100, 8B shape, b = 1, 4K / 32K end to end (bench/CUDA_NOTES.md
  // part 16): dense +0.7% / +1.0%, 50% latents +1.5% / +1.7%, 50% + int4 +0.3% / +0.2%.
  // LRKV_ATTN_EARLY=0|1 overrides it.
  bool early_attention_rows = true;
  // Dense decode steps (interleaved RoPE, no q/k/v biases, no device hook) rotate q and k and
  // write the new k and v rows into the cache in the epilogue of the q|k|v projection
  // (SkinnyRope, skinny_matmul_args.h) instead of a rope_qk launch after it: the same arithmetic,
  // the same logits bit for bit. On an H100, 8B shape, b = 1, 4K / 32K end to end
  // (bench/CUDA_NOTES.md part 18): dense +0.7% / +0.9%. LRKV_ROPE_EPILOGUE=0|1 overrides it.
  bool rope_in_projection = true;
};

class CudaEngine final : public Engine {
 public:
  // Uploads the weights (converted to options.weight_dtype); `model` must outlive the engine.
  static Result<std::unique_ptr<CudaEngine>> create(const Model& model, const CudaEngineOptions& options = {});
  ~CudaEngine() override;
  CudaEngine(const CudaEngine&) = delete;
  CudaEngine& operator=(const CudaEngine&) = delete;

  // Tokens of one span per step: longer spans run as consecutive chunks (bounded attention grid and
  // activations).
  static constexpr int kMaxChunk = 4096;

  const LlamaConfig& config() const override { return cfg_; }
  const Model& model() const override { return model_; }
  std::string device() const override { return "cuda"; }
  bool compressed() const override { return !latent_.empty(); }
  int64_t decode_weight_bytes() const override;
  // A device cache for n_seq sequences of up to `capacity` tokens: spec.dtype f16 or bf16 rows
  // (f32 is refused: use f16), or spec.latent bits 8/4/3/2 for a compressed model with absorbed
  // keys (dequantised inside the attention kernel). q8_0/q4_0/KIVI caches are CPU-only.
  Result<std::unique_ptr<KvCache>> make_cache(int n_seq, int capacity, const KvCacheSpec& spec = {}) const override;
  // The options in effect (environment overrides applied; cuda_graphs turns off after a failed capture).
  const CudaEngineOptions& options() const { return opt_; }
  // Runs the spans (distinct sequences of `cache`, which this engine made) through the model,
  // appending to the cache. Synchronous.
  Status forward(const std::vector<SeqSpan>& spans, KvCache& cache, LogitsMode mode,
                 std::vector<float>* logits) override;
  // The same step, then one next token per span drawn by samplers[i] from the last row's
  // logits without downloading them: greedy = argmax on the GPU; otherwise the sampler's top-k
  // (k <= 1024) is selected and sorted on the GPU and Sampler::sample_candidates draws from it
  // (so the tokens are those the CPU Sampler draws from the same logits); larger k (or top_k 0
  // with a large vocabulary) downloads that row's logits. Synchronous.
  Status forward_sample(const std::vector<SeqSpan>& spans, KvCache& cache, std::vector<Sampler>& samplers,
                        std::vector<int>* next) override;
  // Calibration capture (uncompressed models): called inside forward, in order on the engine's
  // stream, with device f32 rows [n_rows, cols] (row stride ld) at the CPU Engine's hook points
  // kKvInput, kKPreRope, kV, kKPostRope (model/hooks.h) of every layer. An error ends the forward.
  using DeviceHookFn = std::function<Status(int layer, HookPoint point, const float* rows, int64_t n_rows,
                                            int64_t cols, int64_t ld, cudaStream_t stream)>;
  void set_device_hook(DeviceHookFn fn) { device_hook_ = std::move(fn); }

  // Device weights: [rows, cols] row-major in `type`.
  struct Matrix {
    DeviceBuffer buf;
    DType type = DType::kF32;
    int64_t rows = 0, cols = 0;
  };
  // Rows [row0, row0 + rows) of a Matrix (row stride cols), e.g. W_k inside the stacked W_q|W_k|W_v.
  struct WeightView {
    const void* data = nullptr;
    DType type = DType::kF32;
    int64_t rows = 0, cols = 0;
    WeightView() = default;
    WeightView(const Matrix& m, int64_t row0 = 0, int64_t n = -1)  // NOLINT: a Matrix is a view of itself
        : data(m.buf.empty() ? nullptr : static_cast<const char*>(m.buf.data()) + dtype_bytes(m.type, row0 * m.cols)),
          type(m.type), rows(n < 0 ? m.rows - row0 : n), cols(m.cols) {}
    bool empty() const { return data == nullptr; }
  };
  // The projections of one layer input are stacked so a decode step reads them in one launch:
  // qkv = [W_q; W_k; W_v] (W_k only when keys are projected in full: dense or absorbed latents;
  // W_v only for dense models; compressed models with factors in the weight type append k_down
  // (rebuilt keys) and v_down); gate_up = W_gate and W_up interleaved row by row (rows 2j, 2j + 1:
  // W_gate[j], W_up[j]), so the decode launch applies the SwiGLU to each pair in its epilogue.
  struct Layer {
    DeviceBuffer attn_norm, ffn_norm, bq, bk, bv;  // f32 vectors (biases may be empty)
    Matrix qkv, wo, gate_up, w_down;               // wo: dense models only (else LatentFactors::wo_folded)
    WeightView wq, wk, wv;                         // views into qkv (wk, wv may be empty)
    WeightView k_down, v_down;  // latent down-projections stacked into qkv (factors in the weight type), else empty
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
  // make_cache's allocations; make_cache names the cache's shape when the GPU runs out of memory.
  Result<std::unique_ptr<KvCache>> alloc_cache(int n_seq, int capacity, const KvCacheSpec& spec) const;
  CudaEngine(const Model& model, const CudaEngineOptions& options);
  Status upload();
  Status check_spans(const std::vector<SeqSpan>& spans, const KvCache& cache) const;
  // y[m, n] (+)= x[m, k] · W[w_row0 .. + n, w_col0 .. + k]ᵀ: skinny_matmul for decode-sized m,
  // cuBLAS otherwise.
  Status project(const float* x, int64_t ldx, int64_t m, const WeightView& w, float* y, int64_t ldy,
                 bool accumulate = false, int64_t w_row0 = 0, int64_t n = -1, int64_t k = -1, int64_t w_col0 = 0);
  // Consecutive row ranges of one stacked matrix into separate outputs (one launch when skinny).
  struct Output {
    float* y;
    int64_t ldy, n;
    bool accumulate = false;
  };
  Status project_stacked(const float* x, int64_t ldx, int64_t m, const WeightView& w, const std::vector<Output>& outs);
  // skinny_matmul over outputs tiling W's rows from `w` when the shapes allow (sets *status), else
  // false; with `rope` its q|k|v epilogue, with swiglu_pairs one output from W's (gate, up) row pairs.
  bool try_skinny(const float* x, int64_t ldx, int64_t m, const void* w, int64_t ldw, DType type, int64_t k,
                  const std::vector<Output>& outs, Status* status, const SkinnyRope* rope = nullptr,
                  bool swiglu_pairs = false);
  // h = rmsnorm(x); q (and k, v where the layer stacks them) = h · W_{q,k,v}ᵀ + biases (no RoPE).
  // With `rope` (dense layers without biases): RoPE and the cache writes in the projection's
  // epilogue when it is a skinny launch; *roped says whether they were done.
  Status project_inputs(int l, Step& st, const SkinnyRope* rope = nullptr, bool* roped = nullptr);
  // RoPE of the step's q rows, the parameters rope_qk extends with k and the cache writes.
  RopeQkParams rope_q(Step& st) const;
  Status attention_dense(int l, Step& st);
  Status attention_latent(int l, Step& st);
  // ck (and qk for absorbed keys) of the new tokens; *cached: the fused launch also wrote both
  // latents into the (unquantized) cache.
  Status latent_keys(int l, Step& st, bool* cached);
  Status value_latents(int l, Step& st);  // cv of the new tokens (when not projected with q) + bias
  Status ffn(int l, Step& st);
  struct Selection;  // what forward_sample selects on the device (cuda_engine_step.h)
  struct SampleJob;  // per-row candidates of forward_sample, downloaded before the stream syncs
  Status run_forward(const std::vector<SeqSpan>& spans, KvCache& cache, LogitsMode mode,
                     std::vector<float>* logits, SampleJob* sample);
  Status alloc_step(Step& st);
  Status run_step(Step& st, LogitsMode mode, bool want_logits);
  Status head(Step& st, LogitsMode mode, bool want_logits);
  Status deliver(const Step& st, std::vector<float>* logits, SampleJob* sample);
  // Decode graphs (cuda_decode_graph.cpp).
  struct DecodeGraph;
  static constexpr size_t kMaxGraphs = 8;  // least recently used ones beyond are destroyed
  bool graph_eligible(const Step& st, LogitsMode mode, bool want_logits) const;
  Result<DecodeGraph*> decode_graph(const Step& shape);
  Status capture(DecodeGraph& g);
  std::vector<std::unique_ptr<DecodeGraph>> graphs_;
  uint64_t graph_clock_ = 0;
  // The selection kernels of `sel` on logits [sel.rows(), V] into dev (Selection's block), then one
  // copy of it to `host`; rows with k = -1 download whole into whole_rows ([rows, V], eager only).
  Status select_on_device(const float* logits, const Selection& sel, void* dev, void* host, float* whole_rows);

  const Model& model_;
  const LlamaConfig& cfg_;
  CudaEngineOptions opt_;
  std::vector<LatentLayer> latent_;  // host metadata of a compressed model
  DType factor_type_ = DType::kF32;  // of the uploaded latent factors (f32 or the weight type)
  Matrix tok_embd_, output_;
  DeviceBuffer out_norm_, inv_freq_;
  std::vector<Layer> layers_;
  std::vector<LatentFactors> factors_;
  cudaStream_t stream_ = nullptr;
  DevicePool pool_;
  std::unique_ptr<CublasGemm> gemm_;
  DeviceHookFn device_hook_;
  CudaKvCache* cache_ = nullptr;  // the cache of the forward in progress
  bool quantized() const { return cache_->quantized(); }
  // The new rows' key and value latents as encodings into layer l's quantized cache.
  struct LatentEncode {
    QuantEncodeParams side[2];  // keys, values
    std::vector<int> col[2], len[2];
  };
  void latent_encode(int l, Step& st, LatentEncode* e) const;
  // The same rows into layer l's float (f16/bf16) cache: the scatters of st.ck and st.cv.
  void latent_cache_writes(int l, Step& st, CacheWriteParams* k, CacheWriteParams* v) const;
  // encoded: the fused absorption already wrote the new rows' codes.
  Status attention_latent_quantized(int l, Step& st, bool encoded);
  static constexpr int64_t kSegmentProjectMaxRows = 64;  // steps up to this many rows use absorb_segments
  bool absorb_in_one_launch(int l) const;
  // *cached: the launch also wrote the new latents into the cache (fused, as floats or codes).
  Status absorb_segments(int l, Step& st, bool fused, bool* cached);
  DeviceBuffer encode_counters_;  // segment_project's per-(segment, row tile) counters, zero between launches
};

}  // namespace lrkv::cuda
