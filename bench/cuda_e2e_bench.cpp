// End-to-end decode speed of CudaEngine on an 8B-shape model (preset llama3-8b: d 4096, 32 query
// / 8 KV heads of 128, d_ff 14336, vocab 128256; random bf16 weights, `--layers` of them) with
// three caches: the full fp16 cache, 50% latents (mkv-pca absorbed keys, per-KV-head rank 64 for
// keys and values, random factors, fp16 latent rows), and the same latents as 4-bit affine codes
// with an fp16 scale + min per 32 values (kernels/cuda/quant_latent_attention.h). The cache is
// filled with random contents of `ctx` tokens (cuda_cache_fill.h: no prefill), then `--steps`
// batched decode steps (one token per sequence) are timed
// after 2 warm-ups, greedy tokens picked on the GPU (CudaEngine::forward_sample: ids, not
// logits, come back). tokens/s = batch * steps / seconds.
// Run: cuda_e2e_bench [--layers 32] [--contexts 4096,32768] [--batches 1,16] [--steps 20] [--csv f]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_cache_fill.h"
#include "model/methods.h"
#include "backend/cuda/cuda_engine.h"
#include "model/latent_layer.h"
#include "model/sampler.h"
#include "model/rank_plan.h"
#include "model/synth.h"

namespace lrkv::bench {
namespace {

#define E2E_CHECK(expr)                                                                  \
  do {                                                                                   \
    const ::lrkv::Status s_ = (expr);                                                    \
    if (!s_.ok()) {                                                                      \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, s_.to_string().c_str());   \
      std::exit(1);                                                                      \
    }                                                                                    \
  } while (0)

std::vector<int> parse_ints(const std::string& s) {
  std::vector<int> v;
  size_t i = 0;
  while (i < s.size()) {
    const size_t j = s.find(',', i);
    v.push_back(std::stoi(s.substr(i, j == std::string::npos ? std::string::npos : j - i)));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return v;
}

Tensor random_tensor(std::vector<int64_t> shape, float stddev, std::mt19937& rng) {
  Tensor t = Tensor::zeros(DType::kF32, std::move(shape));
  std::normal_distribution<float> d(0.0f, stddev);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = d(rng);
  return t;
}

// Random absorbed-key latent factors of a uniform mkv-pca plan (as tests/latent_test_model.h).
Status add_latent_factors(Model& m, double budget) {
  const LlamaConfig& cfg = m.config;
  LRKV_ASSIGN_OR_RETURN(RankPlan plan, uniform_plan(cfg, "mkv-pca", "head", budget));
  m.compression.emplace().plan = plan;
  std::mt19937 rng(11);
  const int64_t d = cfg.d_model, hd = cfg.head_dim;
  for (int l = 0; l < cfg.n_layer; ++l) {
    const auto& groups = plan.layers[l].groups;
    int64_t rv = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      const int64_t rows = groups[g].n_kv_heads * hd;
      rv += groups[g].rank_v;
      m.extra_tensors[factor_name(l, "k_proj", static_cast<int>(g))] =
          random_tensor({rows, groups[g].rank_k}, 1.0f / std::sqrt(static_cast<float>(rows)), rng);
      m.extra_tensors[factor_name(l, "v_up", static_cast<int>(g))] =
          random_tensor({rows, groups[g].rank_v}, 1.0f / std::sqrt(static_cast<float>(groups[g].rank_v)), rng);
    }
    m.extra_tensors[factor_name(l, "v_down")] = random_tensor({rv, d}, 1.0f / std::sqrt(static_cast<float>(d)), rng);
  }
  return Status::Ok();
}

struct Row {
  std::string variant;
  int batch, ctx;
  double ms_per_step, tok_s;
  int64_t cache_bytes;
  int64_t weight_bytes;  // CudaEngine::decode_weight_bytes: the floor's weight term for this variant
  std::string note;
};

void run_engine(cuda::CudaEngine& e, const std::string& variant, const KvCacheSpec& spec,
                const std::vector<int>& batches, const std::vector<int>& contexts, int steps, std::vector<Row>* rows) {
  for (int batch : batches) {
    for (int ctx : contexts) {
      Row r{variant, batch, ctx, 0, 0, 0, e.decode_weight_bytes(), ""};
      auto made = e.make_cache(batch, ctx + steps + 4, spec);
      if (!made.ok()) {
        r.note = "skipped: " + made.status().to_string().substr(0, 80);
        std::printf("%-12s b=%-2d ctx=%-6d %s\n", variant.c_str(), batch, ctx, r.note.c_str());
        rows->push_back(r);
        continue;
      }
      auto& cache = static_cast<cuda::CudaKvCache&>(**made);  // made by a CudaEngine
      E2E_CHECK(cuda::fill_cache_random(cache, ctx, 7));
      r.cache_bytes = cache.allocated_bytes();
      std::vector<int> tok(batch);
      std::vector<SeqSpan> spans(batch);
      for (int b = 0; b < batch; ++b) tok[b] = 3 + b;
      for (int b = 0; b < batch; ++b) spans[b] = SeqSpan{b, &tok[b], 1};
      // Greedy decoding as a serving loop runs it: the argmax on the GPU, token ids downloaded.
      std::vector<Sampler> greedy(batch, Sampler(SamplerOptions{0.0f, 0, 1.0f, 1}));
      std::vector<int> next;
      for (int i = 0; i < 2; ++i) E2E_CHECK(e.forward_sample(spans, cache, greedy, &next));
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < steps; ++i) E2E_CHECK(e.forward_sample(spans, cache, greedy, &next));
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::vector<float> logits;  // one more step with logits, for the finiteness check
      E2E_CHECK(e.forward(spans, cache, LogitsMode::kLast, &logits));
      size_t bad = 0;
      for (float x : logits) bad += !std::isfinite(x);
      r.ms_per_step = 1e3 * s / steps;
      r.tok_s = batch * steps / s;
      if (bad) r.note = "NON-FINITE LOGITS";
      std::printf("%-12s b=%-2d ctx=%-6d %8.2f ms/step %9.1f tok/s  cache %.2f GB %s\n", variant.c_str(), batch, ctx,
                  r.ms_per_step, r.tok_s, r.cache_bytes / 1e9, r.note.c_str());
      std::fflush(stdout);
      rows->push_back(r);
    }
  }
}

int run(int argc, char** argv) {
  CLI::App app{"CudaEngine decode tokens/s: fp16 cache vs 50% latents vs 50% + int4 latents"};
  std::string preset = "llama3-8b", contexts = "4096,32768", batches = "1,16", csv;
  std::string variants = "dense,latent50,latent50-q4";
  int layers = 32, steps = 20;
  std::string factor_type = "bf16";
  bool graphs = true;
  app.add_option("--preset", preset);
  app.add_option("--layers", layers, "layers of the model (fewer: faster set-up)");
  app.add_option("--contexts", contexts);
  app.add_option("--batches", batches);
  app.add_option("--steps", steps);
  app.add_option("--variants", variants);
  app.add_option("--csv", csv);
  app.add_option("--factor-dtype", factor_type, "latent factors: bf16 (the weights' type, the engine default) or f32 (LRKV_FACTOR_DTYPE overrides both)");
  app.add_option("--graphs", graphs, "decode steps replay CUDA graphs (1, the engine default) or launch every kernel (0)");
  CLI11_PARSE(app, argc, argv);
  if (factor_type != "f32" && factor_type != "bf16") {
    std::fprintf(stderr, "--factor-dtype %s: expected f32 or bf16\n", factor_type.c_str());
    return 2;
  }
  std::string why;
  if (!cuda::device_available(&why)) {  // before a minute of building an 8B model on the host
    std::fprintf(stderr, "no CUDA device: %s\n", why.c_str());
    return 1;
  }
  auto cfg = preset_config(preset);
  E2E_CHECK(cfg.status());
  cfg->n_layer = layers;
  cfg->max_seq = std::max(cfg->max_seq, 1 << 17);
  const auto tb = std::chrono::steady_clock::now();
  // Uniform draws: the speed measured does not depend on the values, and normals of an 8B shape
  // took ~30 s of the device machine's CPUs per process (synth.h RandomFill).
  auto model = make_random_model(*cfg, 1, DType::kBF16, RandomFill::kUniform);
  E2E_CHECK(model.status());
  std::printf("model %s, %d layers, random bf16 weights, uniform (%.1f s to build)\n", preset.c_str(), layers,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - tb).count());
  const auto want = [&](const char* v) { return ("," + variants + ",").find("," + std::string(v) + ",") != std::string::npos; };
  std::vector<Row> rows;
  cuda::CudaEngineOptions opt;
  opt.f32_factors = factor_type == "f32";
  opt.cuda_graphs = graphs;
  std::printf("latent factors %s, CUDA graphs %s\n", factor_type.c_str(), graphs ? "on" : "off");
  const auto B = parse_ints(batches), C = parse_ints(contexts);
  if (want("dense")) {
    auto e = cuda::CudaEngine::create(*model, opt);
    E2E_CHECK(e.status());
    run_engine(**e, "dense-f16", DType::kF16, B, C, steps, &rows);
  }
  if (want("latent50") || want("latent50-q4")) {
    E2E_CHECK(add_latent_factors(*model, 0.5));
    auto e = cuda::CudaEngine::create(*model, opt);
    E2E_CHECK(e.status());
    if (want("latent50")) run_engine(**e, "latent50-f16", DType::kF16, B, C, steps, &rows);
    if (want("latent50-q4")) {
      KvCacheSpec q4(DType::kF16);
      q4.latent = LatentQuantParams{4, 32, false};
      run_engine(**e, "latent50-int4", q4, B, C, steps, &rows);
    }
  }
  std::printf("\n| batch | ctx | fp16 cache | 50%% latents (fp16) | 50%% + int4 |\n|---|---|---|---|---|\n");
  for (int b : B) {
    for (int c : C) {
      std::string cells;
      for (const char* v : {"dense-f16", "latent50-f16", "latent50-int4"}) {
        std::string cell = "-";
        for (const Row& r : rows) {
          if (r.variant == v && r.batch == b && r.ctx == c) {
            char buf[160];
            if (r.tok_s > 0) {
              std::snprintf(buf, sizeof buf, "%.1f tok/s (%.2f ms/step, cache %.2f GB)", r.tok_s, r.ms_per_step,
                            r.cache_bytes / 1e9);
            } else {
              std::snprintf(buf, sizeof buf, "%s", r.note.c_str());
            }
            cell = buf;
          }
        }
        cells += " | " + cell;
      }
      std::printf("| %d | %d%s |\n", b, c, cells.c_str());
    }
  }
  if (!csv.empty()) {
    std::ofstream f(csv);
    f << "variant,batch,ctx,ms_per_step,tok_s,cache_bytes,layers,weight_bytes,note\n";
    for (const Row& r : rows) {
      f << r.variant << ',' << r.batch << ',' << r.ctx << ',' << r.ms_per_step << ',' << r.tok_s << ','
        << r.cache_bytes << ',' << layers << ',' << r.weight_bytes << ',' << r.note << '\n';
    }
  }
  return 0;
}

}  // namespace
}  // namespace lrkv::bench

int main(int argc, char** argv) { return lrkv::bench::run(argc, argv); }
