// Compressing an 8B-shape model (Llama-3-8B: d_model 4096, 32 layers, 8 KV heads x 128; random
// bf16 weights from model/synth.h) with the GPU paths: calibration on a CudaEngine with device
// moment accumulation (cuda_calibration.h), then compress_model with the cuSOLVER factoriser
// (cuda_factorize.h) for palu group:4 / joint / head (+ lorc, mkv-pca group:4) at budget 0.5.
// For comparison, the CPU factoriser (factorize.h, LAPACK on this machine's cores) compresses
// the first --cpu-layers layers and its time is extrapolated to all layers (stated as such).
// Checks first: the GPU's rebuilt projections of layer 0 against the CPU's.
// Usage: cuda_compress_bench [--preset llama3-8b] [--layers N] [--tokens 65536] [--ctx 1024]
//        [--batch 16] [--cpu-layers 1] [--no-cpu]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "backend/cuda/cuda_calibration.h"
#include "compress/methods.h"
#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_factorize.h"
#include "compress/compressor.h"
#include "model/latent_layer.h"
#include "model/rank_plan.h"
#include "model/synth.h"

using namespace lrkv;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Mat tensor_mat(const Tensor& t) {
  Mat m(t.dim(0), t.ndim() > 1 ? t.dim(1) : 1);
  for (int64_t i = 0; i < t.numel(); ++i) m.a[i] = t.f32()[i];
  return m;
}

// Rebuilt V projection of layer l (rows of group g = v_up_g · v_down_g): sign-independent.
Mat rebuilt_v(const Model& m, const RankPlan& plan, int l) {
  const Mat down = tensor_mat(m.extra_tensors.at(factor_name(l, "v_down")));
  Mat out(m.config.kv_dim(), down.cols);
  int64_t r0 = 0;
  for (size_t g = 0; g < plan.layers[l].groups.size(); ++g) {
    const GroupPlan& gp = plan.layers[l].groups[g];
    const Mat up = tensor_mat(m.extra_tensors.at(factor_name(l, "v_up", static_cast<int>(g))));
    out.set_block(gp.kv_head_begin * m.config.head_dim, 0, matmul(up, down.block(r0, gp.rank_v, 0, down.cols)));
    r0 += gp.rank_v;
  }
  return out;
}

double rel_fro(const Mat& a, const Mat& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.a.size(); ++i) {
    num += (a.a[i] - b.a[i]) * (a.a[i] - b.a[i]);
    den += b.a[i] * b.a[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// The first `n` layers of a model (weights shared) or of calibration statistics.
Model first_layers(const Model& m, int n) {
  Model out;
  out.config = m.config;
  out.config.n_layer = n;
  out.weights = m.weights;
  out.weights.layers.resize(n);
  return out;
}

CalibrationStats first_layers(const CalibrationStats& c, int n) {
  CalibrationStats out;
  out.model_name = c.model_name;
  out.n_tokens = c.n_tokens;
  out.d_model = c.d_model;
  out.n_kv_head = c.n_kv_head;
  out.head_dim = c.head_dim;
  out.n_layer = n;
  out.layers.assign(c.layers.begin(), c.layers.begin() + n);
  return out;
}

int fail(const Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "llama3-8b";
  int layers = 0, ctx = 1024, batch = 16, cpu_layers = 1;
  int64_t n_tokens = 65536;
  bool run_cpu = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--preset") preset = next();
    else if (a == "--layers") layers = std::stoi(next());
    else if (a == "--tokens") n_tokens = std::stoll(next());
    else if (a == "--ctx") ctx = std::stoi(next());
    else if (a == "--batch") batch = std::stoi(next());
    else if (a == "--cpu-layers") cpu_layers = std::stoi(next());
    else if (a == "--no-cpu") run_cpu = false;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::string why;
  if (!cuda::device_available(&why)) {
    std::printf("no CUDA device: %s\n", why.c_str());
    return 0;
  }
  auto cfg = preset_config(preset);
  if (!cfg.ok()) return fail(cfg.status(), "preset");
  if (layers > 0) cfg->n_layer = layers;
  std::printf("model %s: d_model %d, %d layers, %d KV heads x %d, d_ff %d, vocab %d (random bf16 weights)\n",
              preset.c_str(), cfg->d_model, cfg->n_layer, cfg->n_kv_head, cfg->head_dim, cfg->d_ff, cfg->n_vocab);
  double t0 = now_s();
  auto model = make_random_model(*cfg, 1, DType::kBF16);
  if (!model.ok()) return fail(model.status(), "synth");
  std::printf("synth model (host): %.1f s\n", now_s() - t0);

  // GPU calibration.
  std::vector<int> tokens(n_tokens);
  for (int64_t i = 0; i < n_tokens; ++i) tokens[i] = 3 + static_cast<int>((i * 7919 + 13) % (cfg->n_vocab - 3));
  CalibrationOptions co;
  co.ctx = ctx;
  co.batch = batch;
  co.progress = false;
  CalibrationStats calib;
  double t_upload = 0.0, t_calib = 0.0;
  {
    t0 = now_s();
    auto engine = cuda::CudaEngine::create(*model);
    if (!engine.ok()) return fail(engine.status(), "engine");
    t_upload = now_s() - t0;
    t0 = now_s();
    auto c = cuda::run_calibration_cuda(**engine, tokens, co);
    if (!c.ok()) return fail(c.status(), "GPU calibration");
    t_calib = now_s() - t0;
    calib = std::move(c).value();
  }
  std::printf("GPU engine upload: %.1f s; GPU calibration of %lld tokens (ctx %d x batch %d): %.2f s (%.0f tok/s)\n",
              t_upload, static_cast<long long>(calib.n_tokens), ctx, batch, t_calib, calib.n_tokens / t_calib);

  auto fz = cuda::gpu_factorizer();
  if (!fz.ok()) return fail(fz.status(), "factoriser");
  struct Row {
    std::string method, gran;
    bool cpu;
  };
  const std::vector<Row> rows = {{"palu", "group:4", true}, {"palu", "joint", true},   {"palu", "head", true},
                                 {"lorc", "group:4", false}, {"mkv-pca", "group:4", false}};
  std::printf("\n%-8s %-8s %10s %10s %12s %14s %8s %12s\n", "method", "gran", "GPU s", "GPU s/lyr", "CPU s/lyr",
              "CPU x32 (est)", "ratio", "L0 V diff");
  const unsigned hw = std::thread::hardware_concurrency();
  for (const Row& r : rows) {
    auto plan = uniform_plan(*cfg, r.method, r.gran, 0.5);
    if (!plan.ok()) return fail(plan.status(), "plan");
    t0 = now_s();
    auto g = compress_model(*model, *plan, &calib, *fz);
    if (!g.ok()) return fail(g.status(), "GPU compress");
    const double t_gpu = now_s() - t0;
    double t_cpu = -1.0, diff = -1.0;
    if (run_cpu && r.cpu && cpu_layers > 0) {
      const Model part = first_layers(*model, cpu_layers);
      const CalibrationStats part_calib = first_layers(calib, cpu_layers);
      auto part_plan = uniform_plan(part.config, r.method, r.gran, 0.5);
      t0 = now_s();
      auto c = compress_model(part, *part_plan, &part_calib);
      if (!c.ok()) return fail(c.status(), "CPU compress");
      t_cpu = (now_s() - t0) / cpu_layers;
      diff = rel_fro(rebuilt_v(*g, *plan, 0), rebuilt_v(*c, *part_plan, 0));
    }
    const double per = t_gpu / cfg->n_layer;
    if (t_cpu > 0) {
      std::printf("%-8s %-8s %10.2f %10.3f %12.2f %14.1f %7.0fx %12.2e\n", r.method.c_str(), r.gran.c_str(), t_gpu,
                  per, t_cpu, t_cpu * cfg->n_layer, t_cpu / per, diff);
    } else {
      std::printf("%-8s %-8s %10.2f %10.3f %12s %14s %8s %12s\n", r.method.c_str(), r.gran.c_str(), t_gpu, per, "-",
                  "-", "-", "-");
    }
    std::fflush(stdout);
  }
  std::printf("\nGPU s: compress_model over all %d layers with the cuSOLVER factoriser (includes host-side weight\n"
              "conversion and factor tensors). CPU s/lyr: factorize.h (LAPACK) measured on the first %d layer(s) with\n"
              "%u hardware threads; CPU x32 is that time x %d layers (an extrapolation, not a measurement).\n"
              "L0 V diff: relative Frobenius difference of layer 0's rebuilt V projection, GPU vs CPU.\n",
              cfg->n_layer, cpu_layers, hw, cfg->n_layer);
  return 0;
}
