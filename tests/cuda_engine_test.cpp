// The whole forward pass on the GPU (CudaEngine, bf16 weights and cache) against the CPU Engine
// on the same bf16 weights: the real models of ../shared (dense), and compressed models
// (rebuild-keys and absorbed keys, per-head and grouped plans; random factors laid out by a
// uniform RankPlan) on a synthetic GQA config and on the real lrkv-mha6 weights. Prefill of two
// sequences of different lengths, batched decode steps, then a lone chunk. The metric per
// logits row is max |gpu - cpu| / max |cpu|; the largest over rows must stay < 1e-2 for the real
// weights (the GPU's own roundings: softmax weights to bf16 in attention, f32 summation order),
// 2e-2 for random compressed models (see kSyntheticTolerance). The variant with activations
// rounded to bf16 before every GEMM is reported with a 3e-2 bound.
#ifdef LRKV_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>

#include "backend/cuda/cuda_engine.h"
#include "io/model_io.h"
#include "cuda_test_util.h"
#include "latent_test_model.h"
#include "logits_compare.h"
#include "model/cpu_engine.h"
#include "test_util.h"

namespace lrkv {
namespace {

using test::tokens;
using test::worst_row_error;

// Runs the same schedule on both engines (same bf16 weights, bf16 caches) and checks the worst
// row error over all steps; `options` selects the GPU engine's variant. The CPU engine holds the
// latent factors with the values the GPU engine uploads (f32, or rounded to the weight type).
void compare_engines(const Model& m, const char* name, const cuda::CudaEngineOptions& options = {},
                     double tolerance = 1e-2) {
  CpuEngine cpu(m, options.f32_factors ? DType::kF32 : options.weight_dtype);
  ASSERT_TRUE(cpu.status().ok()) << cpu.status().to_string();
  auto gpu = cuda::CudaEngine::create(m, options);
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  const int cap = 80, V = m.config.n_vocab;
  auto cache = cpu.make_cache(2, cap, DType::kBF16);
  ASSERT_TRUE(cache.ok()) << cache.status().to_string();
  auto gcache = (*gpu)->make_cache(2, cap, DType::kBF16);
  ASSERT_TRUE(gcache.ok()) << gcache.status().to_string();
  const auto a = tokens(37, 1, V), b = tokens(20, 2, V);
  double worst = 0.0;
  auto step = [&](const std::vector<SeqSpan>& spans, LogitsMode mode) {
    std::vector<float> lc, lg;
    LRKV_ASSERT_OK(cpu.forward(spans, **cache, mode, &lc));
    LRKV_ASSERT_OK((*gpu)->forward(spans, **gcache, mode, &lg));
    ASSERT_EQ(lc.size(), lg.size());
    worst = std::max(worst, worst_row_error(lg, lc, V));
  };
  step({SeqSpan{0, a.data(), 37}, SeqSpan{1, b.data(), 20}}, LogitsMode::kAll);
  for (int i = 0; i < 4; ++i) {
    const auto n0 = tokens(1, 10 + i, V), n1 = tokens(1, 20 + i, V);
    step({SeqSpan{0, n0.data(), 1}, SeqSpan{1, n1.data(), 1}}, LogitsMode::kLast);
  }
  const auto c = tokens(5, 3, V);
  step({SeqSpan{1, c.data(), 5}}, LogitsMode::kLast);
  std::printf("[engine %s%s%s] worst logits row error %.2e\n", name,
              options.exact_gemm_rows > 0 ? "" : " (GEMM inputs rounded to bf16)",
              cpu.compressed() && options.f32_factors ? " (f32 factors)" : "", worst);
  EXPECT_LT(worst, tolerance) << name;
}

// Tolerances of the compressed models. Real weights: 1e-2 for both key modes. Synthetic random
// models have flat logits, and their latent rows, computed in a different summation order on
// each side, round to bf16 one ulp apart now and then (2^-8 on that element): 2e-2 there.
// Rebuild-keys attention also multiplies by B_g and scores rebuilt keys in bf16 on the tensor
// cores where the CPU engine rebuilds f32 keys.
constexpr double kRealTolerance = 1e-2, kSyntheticTolerance = 2e-2;

LlamaConfig gqa_config() {
  LlamaConfig c = test::tiny_config(2, 8, 4, 64);
  c.d_model = 256;
  c.d_ff = 384;
  c.n_vocab = 512;
  c.max_seq = 256;
  c.rope_layout = RopeLayout::kHalfSplit;
  return c;
}

TEST(CudaEngine, RealModelsMatchCpuEngine) {
  LRKV_REQUIRE_CUDA();
  int ran = 0;
  for (const char* rel : {"models/stories260K/stories260K.bin", "models/lrkv-mha6/model.bin",
                          "models/lrkv-mha6/model-bf16.gguf"}) {
    if (!test::shared_exists(rel)) continue;
    LoadOptions o;
    o.matrix_dtype = DType::kBF16;
    auto m = load_model(test::shared_path(rel), o);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    compare_engines(*m, rel);
    cuda::CudaEngineOptions rounded;
    rounded.exact_gemm_rows = 0;
    compare_engines(*m, rel, rounded, 3e-2);
    ++ran;
  }
  if (ran == 0) GTEST_SKIP() << "no shared models";
}

TEST(CudaEngine, SyntheticDenseGqaMatchesCpuEngine) {
  LRKV_REQUIRE_CUDA();
  auto m = make_random_model(gqa_config(), 3, DType::kBF16);
  ASSERT_TRUE(m.ok());
  compare_engines(*m, "synthetic gqa");
}

TEST(CudaEngine, CompressedModelsMatchCpuEngine) {
  LRKV_REQUIRE_CUDA();
  for (const char* method : {"palu", "mkv-pca"}) {
    for (const char* gran : {"head", "group:2"}) {
      test::LatentModelOptions o;
      o.method = method;
      o.granularity = gran;
      Model m = test::make_latent_test_model(gqa_config(), o);
      // Default: factors in bf16, k_down / v_down stacked into the W_q|W_k launch; f32 factors
      // keep their own projections.
      compare_engines(m, (std::string(method) + " " + gran).c_str(), {}, kSyntheticTolerance);
      cuda::CudaEngineOptions f32;
      f32.f32_factors = true;
      compare_engines(m, (std::string(method) + " " + gran).c_str(), f32, kSyntheticTolerance);
    }
  }
}

TEST(CudaEngine, CompressedRealWeightsMatchCpuEngine) {
  LRKV_REQUIRE_CUDA();
  const char* rel = test::shared_exists("models/lrkv-mha6/model.bin") ? "models/lrkv-mha6/model.bin"
                                                                       : "models/lrkv-mha6/model-bf16.gguf";
  if (!test::shared_exists(rel)) GTEST_SKIP() << "no lrkv-mha6";
  for (const char* method : {"palu", "mkv-pca"}) {
    LoadOptions lo;
    lo.matrix_dtype = DType::kBF16;
    auto m = load_model(test::shared_path(rel), lo);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    test::LatentModelOptions o;
    o.method = method;
    Model factors = test::make_latent_test_model(m->config, o);  // random factors for this config
    m->extra_tensors = std::move(factors.extra_tensors);
    m->extra_metadata = std::move(factors.extra_metadata);
    m->compression = std::move(factors.compression);
    compare_engines(*m, (std::string("lrkv-mha6 ") + method).c_str(), {}, kRealTolerance);
  }
}

// Weights that overflow on the GPU (the load-time scan skipped) end the forward with an error
// naming the output logits, as the CPU engine does, instead of returning nan logits.
// decode_weight_bytes against an independent count from the model's tensors: bf16 matrices,
// f32 norms, the LM head in full and one embedding row. A compressed model reads its factors
// instead of W_v and W_o (W_o is not uploaded at all), so fewer bytes, and at least the dense
// count less W_v and W_o.
TEST(CudaEngine, DecodeWeightBytesCountWhatAStepReads) {
  LRKV_REQUIRE_CUDA();
  auto m = make_random_model(gqa_config(), 3, DType::kBF16);
  ASSERT_TRUE(m.ok());
  const LlamaWeights& w = m->weights;
  int64_t expect = 0, wv_wo = 0;
  for (const LayerWeights& L : w.layers) {
    for (const Tensor* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) expect += 2 * t->numel();
    for (const Tensor* t : {&L.attn_norm, &L.ffn_norm, &L.bq, &L.bk, &L.bv}) {
      if (!t->empty()) expect += 4 * t->numel();  // an absent bias is a default Tensor (numel 1, no data)
    }
    wv_wo += 2 * (L.wv.numel() + L.wo.numel());
  }
  expect += 4 * w.out_norm.numel() + 2 * m->config.d_model;
  expect += 2 * (m->config.tied_embeddings ? w.tok_embd.numel() : w.output.numel());
  auto dense = cuda::CudaEngine::create(*m);
  ASSERT_TRUE(dense.ok()) << dense.status().to_string();
  EXPECT_EQ((*dense)->decode_weight_bytes(), expect);

  test::LatentModelOptions o;
  o.method = "mkv-pca";
  o.granularity = "head";
  Model c = test::make_latent_test_model(gqa_config(), o);
  auto comp = cuda::CudaEngine::create(c);
  ASSERT_TRUE(comp.ok()) << comp.status().to_string();
  const int64_t got = (*comp)->decode_weight_bytes();
  std::printf("[engine weight bytes] dense %lld, 50%% mkv-pca per head %lld (W_v + W_o %lld)\n",
              static_cast<long long>(expect), static_cast<long long>(got), static_cast<long long>(wv_wo));
  EXPECT_LT(got, expect);
  EXPECT_GT(got, expect - wv_wo);
}

TEST(CudaEngine, NonFiniteLogitsAreAnError) {
  LRKV_REQUIRE_CUDA();
  LlamaConfig cfg = gqa_config();
  cfg.n_vocab = 3000;  // > kTopKMax: top-k 0 samples whole rows on the host
  auto m = make_random_model(cfg, 5, DType::kBF16);
  ASSERT_TRUE(m.ok());
  m->weights.out_norm.f32()[3] = INFINITY;
  auto gpu = cuda::CudaEngine::create(*m);
  ASSERT_TRUE(gpu.ok());
  auto c = (*gpu)->make_cache(1, 16, DType::kBF16);
  ASSERT_TRUE(c.ok());
  const auto t = tokens(4, 1, m->config.n_vocab);
  std::vector<float> lg;
  const Status s = (*gpu)->forward({SeqSpan{0, t.data(), 4}}, **c, LogitsMode::kLast, &lg);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("non-finite"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("output logits"), std::string::npos) << s.message();
  // forward_sample refuses too: selection on the device (greedy, top-k 40) and whole rows sampled
  // on the host (top-k 0 over 3000 tokens).
  for (const SamplerOptions& o : {SamplerOptions{0.0f, 40, 1.0f, 1}, SamplerOptions{0.8f, 40, 0.9f, 2},
                                  SamplerOptions{1.0f, 0, 1.0f, 3}}) {
    auto cs = (*gpu)->make_cache(1, 16, DType::kBF16);
    ASSERT_TRUE(cs.ok());
    std::vector<Sampler> samplers{Sampler(o)};
    std::vector<int> next;
    const Status ss = (*gpu)->forward_sample({SeqSpan{0, t.data(), 4}}, **cs, samplers, &next);
    ASSERT_FALSE(ss.ok()) << "temperature " << o.temperature << " top-k " << o.top_k;
    EXPECT_NE(ss.message().find("non-finite"), std::string::npos) << ss.message();
    EXPECT_NE(ss.message().find("output logits"), std::string::npos) << ss.message();
  }
}

// A cache larger than the GPU is an out-of-memory error that names its shape (not an internal
// error), and the engine still runs afterwards (the failed cudaMalloc is not sticky).
TEST(CudaEngine, CacheLargerThanTheGpuIsNamed) {
  LRKV_REQUIRE_CUDA();
  auto m = make_random_model(gqa_config(), 5, DType::kBF16);
  ASSERT_TRUE(m.ok());
  auto gpu = cuda::CudaEngine::create(*m);
  ASSERT_TRUE(gpu.ok());
  // 2^22 sequences x 256 tokens x 256 bf16 values (k) = 550 GB per layer: no GPU has that.
  const int n_seq = 1 << 22;
  auto big = (*gpu)->make_cache(n_seq, 256, DType::kBF16);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), ErrorCode::kOutOfMemory) << big.status().to_string();
  EXPECT_NE(big.status().message().find("4194304 sequence(s) x 256 tokens"), std::string::npos)
      << big.status().message();
  EXPECT_NE(big.status().message().find("GB requested"), std::string::npos) << big.status().message();
  auto c = (*gpu)->make_cache(1, 16, DType::kBF16);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  const auto t = tokens(4, 1, m->config.n_vocab);
  std::vector<float> lg;
  const Status s = (*gpu)->forward({SeqSpan{0, t.data(), 4}}, **c, LogitsMode::kLast, &lg);
  ASSERT_TRUE(s.ok()) << s.to_string();
  for (float v : lg) ASSERT_TRUE(std::isfinite(v));
}

// Prompts longer than one step's chunk (CudaEngine::kMaxChunk) run as several steps: all logits
// (kAll) and the last ones (kLast, forward_sample) agree with the CPU engine's single pass
// (f32-faithful GEMM inputs at every size, so that the comparison is the chunking's alone).
TEST(CudaEngine, LongPromptsRunInChunks) {
  LRKV_REQUIRE_CUDA();
  LlamaConfig cfg = gqa_config();
  cfg.max_seq = 2 * cuda::CudaEngine::kMaxChunk + 600;
  auto m = make_random_model(cfg, 4, DType::kBF16);
  ASSERT_TRUE(m.ok());
  CpuEngine cpu(*m);
  cuda::CudaEngineOptions exact;
  exact.exact_gemm_rows = cuda::CudaEngineOptions::kAllRows;
  auto gpu = cuda::CudaEngine::create(*m, exact);
  ASSERT_TRUE(gpu.ok());
  const int n = 2 * cuda::CudaEngine::kMaxChunk + 300, V = cfg.n_vocab;
  const auto a = tokens(n, 7, V), b = tokens(n - 500, 8, V);
  auto cc = cpu.make_cache(2, cfg.max_seq, DType::kBF16);
  auto gc = (*gpu)->make_cache(2, cfg.max_seq, DType::kBF16);
  ASSERT_TRUE(cc.ok() && gc.ok());
  std::vector<float> lc, lg;
  LRKV_ASSERT_OK(cpu.forward({SeqSpan{0, a.data(), n}}, **cc, LogitsMode::kAll, &lc));
  LRKV_ASSERT_OK((*gpu)->forward({SeqSpan{0, a.data(), n}}, **gc, LogitsMode::kAll, &lg));
  ASSERT_EQ(lc.size(), lg.size());
  EXPECT_LT(worst_row_error(lg, lc, V), 1e-2);
  EXPECT_EQ((*gc)->length(0), n);
  LRKV_ASSERT_OK(cpu.forward({SeqSpan{1, b.data(), n - 500}}, **cc, LogitsMode::kLast, &lc));
  std::vector<Sampler> samplers(1, Sampler(SamplerOptions{}));  // greedy
  std::vector<int> next;
  LRKV_ASSERT_OK((*gpu)->forward_sample({SeqSpan{1, b.data(), n - 500}}, **gc, samplers, &next));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ((*gc)->length(1), n - 500);
  const int want = static_cast<int>(std::max_element(lc.begin(), lc.end()) - lc.begin());
  std::vector<float> sorted = lc;
  std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
  if ((sorted[0] - sorted[1]) / std::max(std::fabs(sorted[0]), 1e-30f) > 1e-2) EXPECT_EQ(next[0], want);
}

// A model and the cache spec a test runs it with.
struct Case {
  const Model* m;
  KvCacheSpec spec;
  const char* name;
};

KvCacheSpec int4_latents() {
  KvCacheSpec q4(DType::kBF16);
  q4.latent = LatentQuantParams{4, 32, false};
  return q4;
}

// Prefills n_seq prompts (lengths prompt0 + prompt_step * s) on engines a and b, each with its own
// cache of `spec` (capacity cap), then decodes both one token per sequence until the last reaches
// cap, feeding b's greedy tokens to both; on_step(la, lb) sees each decode step's kLast logits.
// Returns the decode steps run.
int paired_decode(cuda::CudaEngine& a, cuda::CudaEngine& b, const KvCacheSpec& spec, int n_seq, int cap, int prompt0,
                  int prompt_step, const std::function<void(const std::vector<float>&, const std::vector<float>&)>& on_step) {
  const int V = a.config().n_vocab;
  auto ca = a.make_cache(n_seq, cap, spec);
  auto cb = b.make_cache(n_seq, cap, spec);
  EXPECT_TRUE(ca.ok() && cb.ok()) << cb.status().to_string();
  if (!ca.ok() || !cb.ok()) return 0;
  std::vector<std::vector<int>> prompts;
  std::vector<SeqSpan> prefill;
  for (int s = 0; s < n_seq; ++s) prompts.push_back(tokens(prompt0 + prompt_step * s, 5 + s, V));
  for (int s = 0; s < n_seq; ++s) prefill.push_back(SeqSpan{s, prompts[s].data(), static_cast<int>(prompts[s].size())});
  std::vector<float> la, lb;
  EXPECT_TRUE(a.forward(prefill, **ca, LogitsMode::kLast, &la).ok());
  EXPECT_TRUE(b.forward(prefill, **cb, LogitsMode::kLast, &lb).ok());
  int steps = 0;
  std::vector<int> next(n_seq);
  for (int s = 0; s < n_seq; ++s) next[s] = 3 + s;
  while ((*cb)->length(n_seq - 1) < cap) {
    std::vector<SeqSpan> spans;
    for (int s = 0; s < n_seq; ++s) spans.push_back(SeqSpan{s, &next[s], 1});
    const Status sa = a.forward(spans, **ca, LogitsMode::kLast, &la), sb = b.forward(spans, **cb, LogitsMode::kLast, &lb);
    EXPECT_TRUE(sa.ok() && sb.ok()) << sa.to_string() << " / " << sb.to_string();
    EXPECT_EQ(la.size(), lb.size());
    if (!sa.ok() || !sb.ok() || la.size() != lb.size()) return steps;
    on_step(la, lb);
    for (int s = 0; s < n_seq; ++s) {
      const float* r = lb.data() + int64_t{s} * V;
      next[s] = static_cast<int>(std::max_element(r, r + V) - r);
    }
    ++steps;
  }
  return steps;
}

// Engines of model m with options `a` and `b` through paired_decode (cache `spec`, capacity cap,
// prompts prompt0 + prompt_step * s): how many logits differ in any bit; *steps = decode steps run.
int differing_logits(const Model& m, const cuda::CudaEngineOptions& a, const cuda::CudaEngineOptions& b,
                     const KvCacheSpec& spec, int n_seq, int cap, int prompt0, int prompt_step, int* steps) {
  auto ea = cuda::CudaEngine::create(m, a);
  auto eb = cuda::CudaEngine::create(m, b);
  EXPECT_TRUE(ea.ok() && eb.ok());
  *steps = 0;
  if (!ea.ok() || !eb.ok()) return -1;
  int differing = 0;
  *steps = paired_decode(**ea, **eb, spec, n_seq, cap, prompt0, prompt_step,
                         [&](const std::vector<float>& la, const std::vector<float>& lb) {
    for (size_t i = 0; i < lb.size(); ++i) differing += std::memcmp(&lb[i], &la[i], sizeof(float)) != 0;
  });
  return differing;
}

// An engine option that must not change what is computed: engines of each case with set(o, true)
// and set(o, false) through differing_logits (1 and 3 sequences, capacity cap, prompts prompt0 +
// 23 s) agree bit for bit over more than min_steps decode steps; `tag` names the printed lines.
void expect_option_changes_no_bit(const char* tag, std::initializer_list<Case> cases,
                                  const std::function<void(cuda::CudaEngineOptions&, bool)>& set, int cap,
                                  int prompt0, int min_steps) {
  for (const Case& c : cases) {
    for (int n_seq : {1, 3}) {
      cuda::CudaEngineOptions on, off;
      set(on, true);
      set(off, false);
      int steps = 0;
      const int differing = differing_logits(*c.m, on, off, c.spec, n_seq, cap, prompt0, 23, &steps);
      std::printf("[%s %s, %d seq] %d steps, %d logits differ\n", tag, c.name, n_seq, steps, differing);
      EXPECT_GT(steps, min_steps);
      EXPECT_EQ(differing, 0) << tag << " " << c.name << " " << n_seq;
    }
  }
}

// Decode steps replayed from CUDA graphs against the same steps launched kernel by kernel: one,
// three and twelve sequences, a dense model, absorbed latents in bf16 rows and as 4-bit codes, lengths that
// cross the graphs' attention-plan buckets (256, 512) and reach the capacity. The plans differ
// (bucket vs exact length), so the split-K sums differ in order: rows agree to 1e-4 of their
// largest logit, and every graph step's greedy token equals the eager one unless the eager top two
// are within that.
TEST(CudaEngine, DecodeGraphsMatchEagerSteps) {
  LRKV_REQUIRE_CUDA();
  const LlamaConfig cfg = gqa_config();
  test::LatentModelOptions lo;
  lo.method = "mkv-pca";
  lo.granularity = "group:2";
  Model latent = test::make_latent_test_model(cfg, lo);
  auto dense = make_random_model(cfg, 3, DType::kBF16);
  ASSERT_TRUE(dense.ok());
  const KvCacheSpec q4 = int4_latents();
  for (const Case& c : {Case{&*dense, KvCacheSpec(DType::kBF16), "dense"}, Case{&latent, KvCacheSpec(DType::kBF16), "latent"},
                        Case{&latent, q4, "latent int4"}}) {
    // 12 sequences: more rows than skinny_matmul takes, so the graph captures cuBLAS GEMMs.
    for (int n_seq : {1, 3, 12}) {
      cuda::CudaEngineOptions eager_opt;
      eager_opt.cuda_graphs = false;
      auto graph = cuda::CudaEngine::create(*c.m);
      auto eager = cuda::CudaEngine::create(*c.m, eager_opt);
      ASSERT_TRUE(graph.ok() && eager.ok());
      // Else the steps would run eagerly on both sides and agree trivially.
      ASSERT_GE((*graph)->options().graph_max_seqs, n_seq) << "the default engine must replay graphs of " << n_seq;
      const int V = cfg.n_vocab;
      double worst = 0.0;
      int token_mismatch = 0;
      const int steps = paired_decode(**graph, **eager, c.spec, n_seq, 560, 200, n_seq > 3 ? 2 : 17,
                                      [&](const std::vector<float>& lg, const std::vector<float>& le) {
        worst = std::max(worst, worst_row_error(lg, le, V));
        for (int s = 0; s < n_seq; ++s) {
          const float* e = le.data() + int64_t{s} * V;
          const float* g = lg.data() + int64_t{s} * V;
          const int te = static_cast<int>(std::max_element(e, e + V) - e);
          const int tg = static_cast<int>(std::max_element(g, g + V) - g);
          std::vector<float> sorted(e, e + V);
          std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
          const float mag = std::max(std::fabs(sorted[0]), 1e-30f);
          if (te != tg && (sorted[0] - sorted[1]) / mag > 1e-4) ++token_mismatch;
        }
      });
      std::printf("[decode graphs %s, %d seq] %d steps, worst logits row error vs eager %.2e\n", c.name, n_seq, steps,
                  worst);
      EXPECT_TRUE((*graph)->options().cuda_graphs) << c.name << " " << n_seq << ": a capture failed (graphs off)";
      EXPECT_GT(steps, 300);
      EXPECT_LT(worst, 1e-4) << c.name << " " << n_seq;
      EXPECT_EQ(token_mismatch, 0) << c.name << " " << n_seq;
    }
  }
}

// CudaEngineOptions::early_attention_rows only moves the copies of rows older than the step ahead
// of the attention kernel's wait for the kernel that writes the queries and the new rows; what is
// computed, and in which order, is the same. So the logits must agree bit for bit with the engine
// without it, step after step, for dense rows, absorbed latents (fp16 rows and 4-bit codes),
// rebuilt keys and a paged cache (a tile copied
// before its rows were written would read stale rows and differ). Greedy tokens of the reference
// engine feed both.
TEST(CudaEngine, EarlyAttentionRowsChangeNoBit) {
  LRKV_REQUIRE_CUDA();
  if (std::getenv("LRKV_ATTN_EARLY") != nullptr) GTEST_SKIP() << "LRKV_ATTN_EARLY is set: it overrides both engines";
  const LlamaConfig cfg = gqa_config();
  test::LatentModelOptions lo;
  lo.method = "mkv-pca";
  lo.granularity = "group:2";
  const Model latent = test::make_latent_test_model(cfg, lo);
  test::LatentModelOptions palu;
  palu.method = "palu";
  const Model rebuilt = test::make_latent_test_model(cfg, palu);
  auto dense = make_random_model(cfg, 3, DType::kBF16);
  ASSERT_TRUE(dense.ok());
  KvCacheSpec paged(DType::kBF16);
  paged.paging = KvPaging{160, 16};
  expect_option_changes_no_bit(
      "early rows",
      {Case{&*dense, KvCacheSpec(DType::kBF16), "dense"}, Case{&latent, KvCacheSpec(DType::kF16), "latent"},
       Case{&latent, int4_latents(), "latent int4"}, Case{&rebuilt, KvCacheSpec(DType::kBF16), "rebuilt keys"},
       Case{&*dense, paged, "dense paged"}},
      [](cuda::CudaEngineOptions& o, bool on) { o.early_attention_rows = on; }, 600, 150, 400);
}

// CudaEngineOptions::rope_in_projection rotates q and k and writes the new k and v rows into the
// cache in the q|k|v projection's epilogue instead of a rope_qk launch: the same arithmetic on
// the same values, so the logits must agree bit for bit with the engine without it, step after
// step (dense rows, interleaved RoPE, whole-context slots and a paged cache, 1 and 3 sequences of
// graph decode steps; the prompts, prefill steps, keep the rope_qk launch).
TEST(CudaEngine, RopeInProjectionChangesNoBit) {
  LRKV_REQUIRE_CUDA();
  if (std::getenv("LRKV_ROPE_EPILOGUE") != nullptr) GTEST_SKIP() << "LRKV_ROPE_EPILOGUE is set: it overrides both engines";
  LlamaConfig cfg = gqa_config();
  cfg.rope_layout = RopeLayout::kInterleaved;
  auto dense = make_random_model(cfg, 3, DType::kBF16);
  ASSERT_TRUE(dense.ok());
  KvCacheSpec paged(DType::kBF16);
  paged.paging = KvPaging{160, 16};
  expect_option_changes_no_bit(
      "rope in projection",
      {Case{&*dense, KvCacheSpec(DType::kBF16), "dense"}, Case{&*dense, KvCacheSpec(DType::kF16), "dense f16"},
       Case{&*dense, paged, "dense paged"}},
      [](cuda::CudaEngineOptions& o, bool on) { o.rope_in_projection = on; }, 400, 100, 250);
}

// Paged device caches (blocks of 16 rows, taken out of order: a sequence reserves and releases
// blocks first) against whole-context slots of the same engine: prefills of three sequences
// (one of them a 130-token chunk), batched decode steps (CUDA graphs) past several block
// boundaries, a lone chunk, a sequence released and refilled from reused blocks, and a prompt
// whose first 128 tokens map shared prefix blocks. The kernels read the same values in the same
// order, so the logits agree to rounding noise.
TEST(CudaEngine, PagedCachesMatchSlots) {
  LRKV_REQUIRE_CUDA();
  const LlamaConfig cfg = gqa_config();
  auto dense = make_random_model(cfg, 3, DType::kBF16);
  ASSERT_TRUE(dense.ok());
  test::LatentModelOptions mkv, palu;
  mkv.method = "mkv-pca";
  palu.method = "palu";
  const Model absorbed = test::make_latent_test_model(cfg, mkv), rebuilt = test::make_latent_test_model(cfg, palu);
  const KvCacheSpec q4 = int4_latents();
  for (const Case& c : {Case{&*dense, KvCacheSpec(DType::kBF16), "dense"},
                        Case{&absorbed, KvCacheSpec(DType::kF16), "absorbed latents"},
                        Case{&rebuilt, KvCacheSpec(DType::kBF16), "rebuilt keys"},
                        Case{&absorbed, q4, "absorbed int4"}}) {
    auto gpu = cuda::CudaEngine::create(*c.m);
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    const int cap = 200, V = cfg.n_vocab;
    KvCacheSpec paged = c.spec;
    paged.paging = KvPaging{48, 16};
    auto slots = (*gpu)->make_cache(3, cap, c.spec);
    auto pc = (*gpu)->make_cache(3, cap, paged);
    ASSERT_TRUE(slots.ok() && pc.ok()) << pc.status().to_string();
    ASSERT_NE((*pc)->pages(), nullptr);
    LRKV_ASSERT_OK((*pc)->reserve(2, 70));  // blocks 0-4 taken and given back: later tables reuse them
    (*pc)->truncate(2, 0);
    double worst = 0.0;
    auto step = [&](const std::vector<SeqSpan>& spans, LogitsMode mode) {
      std::vector<float> ls, lp;
      LRKV_ASSERT_OK((*gpu)->forward(spans, **slots, mode, &ls));
      LRKV_ASSERT_OK((*gpu)->forward(spans, **pc, mode, &lp));
      ASSERT_EQ(ls.size(), lp.size());
      worst = std::max(worst, worst_row_error(lp, ls, V));
    };
    const auto a = tokens(37, 1, V), b = tokens(20, 2, V), d = tokens(130, 4, V);
    step({SeqSpan{0, a.data(), 37}, SeqSpan{1, b.data(), 20}}, LogitsMode::kAll);
    step({SeqSpan{2, d.data(), 130}}, LogitsMode::kLast);
    for (int i = 0; i < 40; ++i) {
      const auto n0 = tokens(1, 10 + i, V), n1 = tokens(1, 60 + i, V), n2 = tokens(1, 110 + i, V);
      step({SeqSpan{0, n0.data(), 1}, SeqSpan{1, n1.data(), 1}, SeqSpan{2, n2.data(), 1}}, LogitsMode::kLast);
    }
    const auto e = tokens(23, 3, V);
    step({SeqSpan{1, e.data(), 23}}, LogitsMode::kLast);
    (*slots)->truncate(0, 0);  // sequence 0 released and refilled: its blocks go to whoever asks next
    (*pc)->truncate(0, 0);
    const auto f = tokens(90, 5, V);
    step({SeqSpan{0, f.data(), 90}}, LogitsMode::kAll);
    // Prefix sharing: sequence 2's prompt blocks registered, the sequence released, the same prompt
    // mapped onto those blocks (128 of 130 tokens) and only its last 2 tokens computed.
    // (The slot keeps the same first 128 rows: truncated there.)
    (*pc)->pages()->register_prefix(2, d.data(), 130);
    (*pc)->truncate(2, 0);
    (*slots)->truncate(2, 128);
    EXPECT_EQ((*pc)->adopt_prefix(2, d.data(), 130), 128) << c.name;
    step({SeqSpan{2, d.data() + 128, 2}}, LogitsMode::kLast);
    std::printf("[paged %s] worst logits row error vs slots %.2e, %d of %d blocks used\n", c.name, worst,
                (*pc)->pages()->used_blocks(), (*pc)->pages()->n_blocks());
    EXPECT_LT(worst, 1e-5) << c.name;
    // A span that needs more blocks than are free is an error that changes nothing.
    KvCacheSpec small = c.spec;
    small.paging = KvPaging{8, 16};
    auto sc = (*gpu)->make_cache(2, cap, small);
    ASSERT_TRUE(sc.ok());
    std::vector<float> lp;
    LRKV_ASSERT_OK((*gpu)->forward({SeqSpan{0, d.data(), 100}}, **sc, LogitsMode::kLast, &lp));  // 7 of 8 blocks
    const Status full = (*gpu)->forward({SeqSpan{1, d.data(), 40}}, **sc, LogitsMode::kLast, &lp);
    EXPECT_FALSE(full.ok()) << c.name;
    EXPECT_NE(full.message().find("paged KV cache full"), std::string::npos) << full.message();
    EXPECT_EQ((*sc)->length(1), 0);
    EXPECT_EQ((*sc)->pages()->free_blocks(), 1);
    LRKV_ASSERT_OK((*gpu)->forward({SeqSpan{1, d.data(), 16}}, **sc, LogitsMode::kLast, &lp));  // the last block
  }
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
