// Prefill and decode speed of the CPU engine on a synthesized model of real proportions
// (default: Llama-2-7B shapes with 4 layers), f32 and f16 weights, reported against this
// machine's measured read bandwidth (the decode floor: every weight byte is read per token)
// and sgemm rate (the prefill ceiling). Run: build/bench/engine_bench [--layers 4] [--json F]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "core/thread_pool.h"
#include "kernels/blas_core.h"
#include "machine_rates.h"
#include "model/cpu_engine.h"
#include "model/synth.h"

namespace lrkv::bench {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Result {
  std::string dtype;
  double weight_bytes, prefill_tps, decode_tps, prefill_flops_per_token, decode_bytes_per_token;
};

Result bench_one(const LlamaConfig& cfg, DType dt, int n_prefill, int n_decode) {
  auto model = make_random_model(cfg, 1, dt);
  LRKV_CHECK(model.ok(), "{}", model.status().to_string());
  CpuEngine engine(*model);
  int64_t matrix_params = 0, weight_bytes = 0;
  for_each_weight(model->config, model->weights, [&](const WeightSlot& s) {
    weight_bytes += s.tensor->nbytes();
    if (s.is_matrix && s.name != "token_embd.weight") matrix_params += s.tensor->numel();
  });
  if (cfg.tied_embeddings) matrix_params += model->weights.tok_embd.numel();
  std::vector<int> prompt(n_prefill);
  for (int i = 0; i < n_prefill; ++i) prompt[i] = 3 + (i * 7919) % (cfg.n_vocab - 3);
  auto cache = engine.make_dense_cache(1, n_prefill + n_decode + 1, DType::kF32);
  LRKV_CHECK(cache.ok(), "cache");
  std::vector<float> logits;
  // Warm-up (page in weights, size buffers), then measure.
  LRKV_CHECK(engine.forward({{0, prompt.data(), 16}}, **cache, LogitsMode::kLast, &logits).ok(), "warm");
  (*cache)->truncate(0, 0);
  double t0 = now();
  LRKV_CHECK(engine.forward({{0, prompt.data(), n_prefill}}, **cache, LogitsMode::kLast, &logits).ok(), "prefill");
  const double prefill_s = now() - t0;
  int tok = prompt.back();
  t0 = now();
  for (int i = 0; i < n_decode; ++i) {
    LRKV_CHECK(engine.forward({{0, &tok, 1}}, **cache, LogitsMode::kLast, &logits).ok(), "decode");
    tok = 3 + (tok * 31) % (cfg.n_vocab - 3);
  }
  const double decode_s = now() - t0;
  const int64_t ctx_mid = n_prefill + n_decode / 2;
  Result r;
  r.dtype = std::string(dtype_name(dt));
  r.weight_bytes = static_cast<double>(weight_bytes);
  r.prefill_tps = n_prefill / prefill_s;
  r.decode_tps = n_decode / decode_s;
  // Matmul FLOPs per token + attention (QKᵀ and PV over the average visible length).
  r.prefill_flops_per_token = 2.0 * matrix_params + 4.0 * cfg.n_layer * cfg.q_dim() * (n_prefill / 2.0);
  // Per decoded token: all matrices except the embedding table (one row) + the KV cache (f32).
  r.decode_bytes_per_token = static_cast<double>(weight_bytes) -
                             static_cast<double>(model->weights.tok_embd.nbytes()) * (cfg.tied_embeddings ? 0 : 1) +
                             static_cast<double>(cfg.kv_bytes_per_token(4)) * ctx_mid;
  return r;
}

}  // namespace
}  // namespace lrkv::bench

int main(int argc, char** argv) {
  lrkv::cpu::use_the_right_blas_kernels(argv);  // OpenBLAS's kernels for this CPU, as the CLI
  using namespace lrkv;
  CLI::App app{"Prefill/decode speed of the CPU engine on a synthesized model"};
  std::string preset = "llama2-7b", json_out;
  int layers = 4, n_prefill = 512, n_decode = 32, threads = 0;
  std::vector<std::string> dtypes = {"f32", "f16"};
  app.add_option("--preset", preset, "Shape preset")->capture_default_str();
  app.add_option("--layers", layers, "Layers (fewer than the preset to fit in memory)")->capture_default_str();
  app.add_option("--prefill", n_prefill, "Prompt tokens")->capture_default_str();
  app.add_option("--decode", n_decode, "Decoded tokens")->capture_default_str();
  app.add_option("--dtypes", dtypes, "Weight dtypes")->capture_default_str();
  app.add_option("--threads", threads, "Threads (default all)");
  app.add_option("--json", json_out, "Write results as JSON");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) set_global_threads(threads);
  auto cfg = preset_config(preset);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.status().to_string().c_str());
    return 2;
  }
  cfg->n_layer = layers;
  const double bw = bench::measure_read_bandwidth();
  const double gemm = bench::measure_sgemm_flops(n_prefill, cfg->d_model, cfg->d_model);
  std::printf("machine: %d threads, read bandwidth %.1f GB/s, sgemm %.1f GFLOP/s (%d x %d x %d)\n",
              global_pool().size(), bw / 1e9, gemm / 1e9, n_prefill, cfg->d_model, cfg->d_model);
  std::printf("model: %s shapes, %d layers\n\n", preset.c_str(), layers);
  std::printf("| weights | size GiB | prefill tok/s | prefill GFLOP/s | %% of sgemm | decode tok/s | decode floor tok/s | %% of floor |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  nlohmann::json j = {{"bandwidth_GBps", bw / 1e9}, {"sgemm_GFLOPs", gemm / 1e9}, {"preset", preset},
                      {"layers", layers}, {"prefill_tokens", n_prefill}, {"decode_tokens", n_decode}};
  for (const std::string& name : dtypes) {
    DType dt;
    if (!dtype_from_name(name, &dt)) return 2;
    const auto r = bench::bench_one(*cfg, dt, n_prefill, n_decode);
    const double pf = r.prefill_tps * r.prefill_flops_per_token;
    const double floor_tps = bw / r.decode_bytes_per_token;
    std::printf("| %s | %.2f | %.1f | %.1f | %.0f%% | %.2f | %.2f | %.0f%% |\n", r.dtype.c_str(),
                r.weight_bytes / (1 << 30), r.prefill_tps, pf / 1e9, 100 * pf / gemm, r.decode_tps,
                floor_tps, 100 * r.decode_tps / floor_tps);
    std::fflush(stdout);
    j["results"].push_back({{"dtype", r.dtype}, {"weight_GiB", r.weight_bytes / (1 << 30)},
                            {"prefill_tps", r.prefill_tps}, {"prefill_GFLOPs", pf / 1e9},
                            {"decode_tps", r.decode_tps}, {"decode_floor_tps", floor_tps}});
  }
  if (!json_out.empty()) std::ofstream(json_out) << j.dump(2) << "\n";
  return 0;
}
