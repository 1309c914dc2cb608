// cuSOLVER/cuBLAS factorisations (backend/cuda/cuda_factorize.h) against the CPU ones of
// compress/factorize.h on awkward shapes (wide, tall, square, odd sizes, ranks above min(n, d)),
// Palu's regularisation of a non-positive-definite XᵀX, compress_model with either factoriser,
// and GPU calibration (backend/cuda/cuda_calibration.h) against the CPU Engine's.
// Metrics: spectra max |Δs| / s_0; products ‖B A − B' A'‖_F / ‖B A‖_F; per direction
// |cos(u, u')| (equal up to sign). All fp64 on both sides, so the bounds are ~1e-10 / 1e-9.
#ifdef LRKV_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <random>

#include "model/cpu_engine.h"
#include "model/methods.h"
#include "backend/cuda/cuda_calibration.h"
#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_factorize.h"
#include "compress/compressor.h"
#include "cuda_test_util.h"
#include "model/latent_layer.h"
#include "model/rank_plan.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

// Columns scaled by a decaying profile (a spread spectrum, like real activations).
Mat spread(Mat m, double decay) {
  for (int64_t i = 0; i < m.rows; ++i) {
    for (int64_t j = 0; j < m.cols; ++j) m(i, j) *= std::exp(-decay * static_cast<double>(j) / m.cols);
  }
  return m;
}

double rel_fro(const Mat& a, const Mat& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.a.size(); ++i) {
    num += (a.a[i] - b.a[i]) * (a.a[i] - b.a[i]);
    den += b.a[i] * b.a[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

double spectrum_err(const std::vector<double>& g, const std::vector<double>& c) {
  EXPECT_EQ(g.size(), c.size());
  double worst = 0.0;
  for (size_t i = 0; i < std::min(g.size(), c.size()); ++i) worst = std::max(worst, std::fabs(g[i] - c[i]));
  return worst / std::max(c.empty() ? 1.0 : std::fabs(c[0]), 1e-300);
}

// Smallest |cos| between matching columns of two [n, r] matrices (1 = same directions up to sign),
// over the columns with a nonzero CPU column.
double worst_column_cos(const Mat& g, const Mat& c) {
  double worst = 1.0;
  for (int64_t j = 0; j < c.cols; ++j) {
    double gg = 0.0, cc = 0.0, gc = 0.0;
    for (int64_t i = 0; i < c.rows; ++i) {
      gg += g(i, j) * g(i, j);
      cc += c(i, j) * c(i, j);
      gc += g(i, j) * c(i, j);
    }
    if (cc == 0.0) continue;
    worst = std::min(worst, std::fabs(gc) / std::sqrt(gg * cc));
  }
  return worst;
}

void expect_same_factor(const LowRankFactor& g, const LowRankFactor& c, const std::string& what,
                        double tol = 1e-9) {
  ASSERT_EQ(g.down.rows, c.down.rows) << what;
  ASSERT_EQ(g.down.cols, c.down.cols) << what;
  ASSERT_EQ(g.up.rows, c.up.rows) << what;
  const double es = spectrum_err(g.spectrum, c.spectrum);
  const double ep = rel_fro(matmul(g.up, g.down), matmul(c.up, c.down));
  const double cos = worst_column_cos(g.up, c.up);
  std::printf("  %-34s spectrum %.2e  B·A %.2e  1-|cos| %.2e\n", what.c_str(), es, ep, 1.0 - cos);
  EXPECT_LT(es, 1e-10) << what;
  EXPECT_LT(ep, tol) << what;
  EXPECT_GT(cos, 1.0 - tol) << what;
  ASSERT_EQ(g.down_bias.size(), c.down_bias.size()) << what;
  ASSERT_EQ(g.up_bias, c.up_bias) << what;
}

std::unique_ptr<cuda::GpuFactorizer> make_gpu() {
  auto g = cuda::GpuFactorizer::create();
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  return g.ok() ? std::move(g).value() : nullptr;
}

TEST(CudaFactorize, PlainSvdMatchesCpu) {
  LRKV_REQUIRE_CUDA();
  auto gpu = make_gpu();
  ASSERT_TRUE(gpu);
  struct Case {
    int64_t n, d;
    int rank;
  };
  // wide (QR path), wide near-square (direct gesvd), square, tall (n > d), rank above min(n, d).
  for (const Case& k : {Case{96, 520, 40}, Case{128, 200, 64}, Case{77, 77, 30}, Case{200, 64, 48},
                        Case{200, 64, 100}, Case{37, 300, 37}}) {
    const Mat W = spread(test::randn_mat(k.n, k.d, static_cast<uint32_t>(k.n * 1000 + k.d)), 3.0);
    auto c = plain_svd_factor(W, k.rank);
    auto g = gpu->plain_svd(W, k.rank);
    ASSERT_TRUE(c.ok() && g.ok()) << g.status().to_string();
    expect_same_factor(*g, *c, fmt::format("plain {}x{} r{}", k.n, k.d, k.rank));
  }
  EXPECT_FALSE(gpu->plain_svd(test::randn_mat(8, 16, 1), 0).ok());
  EXPECT_FALSE(gpu->plain_svd(test::randn_mat(8, 16, 1), 9).ok());
}

TEST(CudaFactorize, WhitenedSvdMatchesCpu) {
  LRKV_REQUIRE_CUDA();
  auto gpu = make_gpu();
  ASSERT_TRUE(gpu);
  struct Case {
    int64_t n, d, tokens;
    int rank;
  };
  for (const Case& k : {Case{64, 300, 900, 32}, Case{128, 160, 400, 100}, Case{250, 96, 300, 60},
                        Case{250, 96, 300, 120}, Case{33, 257, 600, 17}}) {
    const Mat X = spread(test::randn_mat(k.tokens, k.d, static_cast<uint32_t>(k.d + 7)), 2.0);
    const Mat xtx = matmul(X, X, true, false);
    // Two weights against one XᵀX (the second hits the GPU's Cholesky cache).
    for (uint32_t s = 0; s < 2; ++s) {
      const Mat W = test::randn_mat(k.n, k.d, 100 + s + static_cast<uint32_t>(k.n));
      auto c = whitened_svd_factor(W, xtx, k.rank);
      auto g = gpu->whitened_svd(W, xtx, k.rank);
      ASSERT_TRUE(c.ok() && g.ok()) << g.status().to_string();
      EXPECT_EQ(gpu->last_shift(), 0.0);
      expect_same_factor(*g, *c, fmt::format("whitened {}x{} r{} w{}", k.n, k.d, k.rank, s), 1e-8);
    }
  }
  EXPECT_FALSE(gpu->whitened_svd(test::randn_mat(8, 16, 1), Mat::identity(15), 4).ok());
}

TEST(CudaFactorize, WhitenedSvdRegularisesLikeCpu) {
  LRKV_REQUIRE_CUDA();
  auto gpu = make_gpu();
  ASSERT_TRUE(gpu);
  // Fewer tokens than dimensions, then shifted: clearly indefinite (λ_min = -0.5).
  const int64_t d = 140, n = 64;
  const Mat X = test::randn_mat(50, d, 9);
  Mat xtx = matmul(X, X, true, false);
  for (int64_t i = 0; i < d; ++i) xtx(i, i) -= 0.5;
  double cpu_shift = 0.0;
  ASSERT_TRUE(cholesky_lower(xtx, 1e-3, &cpu_shift).ok());
  const Mat W = test::randn_mat(n, d, 10);
  auto c = whitened_svd_factor(W, xtx, 40);
  auto g = gpu->whitened_svd(W, xtx, 40);
  ASSERT_TRUE(c.ok() && g.ok()) << g.status().to_string();
  std::printf("  shift cpu %.15g gpu %.15g\n", cpu_shift, gpu->last_shift());
  EXPECT_NEAR(gpu->last_shift(), cpu_shift, 1e-10 * cpu_shift);
  EXPECT_GT(cpu_shift, 0.5);
  expect_same_factor(*g, *c, "whitened regularised 64x140 r40", 1e-8);
}

TEST(CudaFactorize, PcaMatchesCpu) {
  LRKV_REQUIRE_CUDA();
  auto gpu = make_gpu();
  ASSERT_TRUE(gpu);
  for (int64_t n : {64, 129, 256}) {
    const Mat Y = spread(test::randn_mat(3 * n, n, static_cast<uint32_t>(n)), 4.0);
    Mat cov = matmul(Y, Y, true, false);
    for (double& v : cov.a) v /= static_cast<double>(Y.rows);
    std::vector<double> mean(n);
    for (int64_t i = 0; i < n; ++i) mean[i] = 0.01 * static_cast<double>(i % 7) - 0.03;
    const int rank = static_cast<int>(n / 3);
    const Mat W = test::randn_mat(n, 200, static_cast<uint32_t>(n + 3));
    for (bool with_w : {false, true}) {
      auto c = pca_factor(cov, mean, rank, with_w ? W : Mat());
      auto g = gpu->pca(cov, mean, rank, with_w ? W : Mat());
      ASSERT_TRUE(c.ok() && g.ok()) << g.status().to_string();
      const std::string what = fmt::format("pca n{} r{}{}", n, rank, with_w ? " with W" : "");
      expect_same_factor(*g, *c, what);
      // The sign convention makes the directions equal, not just up to sign.
      EXPECT_LT(rel_fro(g->up, c->up), 1e-9) << what;
      EXPECT_LT(rel_fro(g->down, c->down), 1e-9) << what;
      double bias = 0.0;
      for (int j = 0; j < rank; ++j) bias = std::max(bias, std::fabs(g->down_bias[j] - c->down_bias[j]));
      EXPECT_LT(bias, 1e-10) << what;
    }
  }
}

// A small GQA model, its CPU calibration, and the GPU calibration of the same bf16 weights.
struct CalibFixture {
  Model model;
  std::vector<int> tokens;
  CalibrationOptions options;
  static LlamaConfig config() {
    LlamaConfig c = test::tiny_config(2, 8, 4, 64);
    c.d_model = 256;
    c.d_ff = 384;
    c.n_vocab = 512;
    c.max_seq = 128;
    c.rope_layout = RopeLayout::kHalfSplit;
    return c;
  }
  CalibFixture() {
    auto m = make_random_model(config(), 11, DType::kBF16);
    LRKV_CHECK(m.ok(), "{}", m.status().to_string());
    model = std::move(m).value();
    for (int i = 0; i < 700; ++i) tokens.push_back(3 + (i * 7919 + 17) % 500);
    options.ctx = 128;
    options.batch = 3;
    options.progress = false;
  }
};

double rel_vec(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

TEST(CudaCalibration, MatchesCpuCalibration) {
  LRKV_REQUIRE_CUDA();
  CalibFixture f;
  CpuEngine cpu_engine(f.model);
  ASSERT_TRUE(cpu_engine.status().ok());
  auto cpu = run_calibration(cpu_engine, f.tokens, f.options);
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  cuda::CudaEngineOptions exact;  // as calibrate_from_text_on: f32-faithful GEMM inputs at every size
  exact.exact_gemm_rows = cuda::CudaEngineOptions::kAllRows;
  auto engine = cuda::CudaEngine::create(f.model, exact);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  auto gpu = cuda::run_calibration_cuda(**engine, f.tokens, f.options);
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  EXPECT_EQ(gpu->n_tokens, cpu->n_tokens);
  ASSERT_EQ(gpu->layers.size(), cpu->layers.size());
  for (size_t l = 0; l < cpu->layers.size(); ++l) {
    const LayerCalibration &G = gpu->layers[l], &C = cpu->layers[l];
    const double ex = rel_fro(G.xtx, C.xtx), ekp = rel_fro(G.k_pre.sxx, C.k_pre.sxx);
    const double ekq = rel_fro(G.k_post.sxx, C.k_post.sxx), ev = rel_fro(G.v.sxx, C.v.sxx);
    const double es = rel_vec(G.v.sum, C.v.sum);
    double fn = 0.0, fd = 0.0;
    for (size_t i = 0; i < C.k_freq.size(); ++i) {
      fn += std::norm(G.k_freq[i] - C.k_freq[i]);
      fd += std::norm(C.k_freq[i]);
    }
    const double ef = std::sqrt(fn / fd);
    std::printf("  layer %zu: xtx %.2e k_pre %.2e k_post %.2e v %.2e v_sum %.2e k_freq %.2e\n", l, ex, ekp, ekq, ev,
                es, ef);
    // Layer 0's K/V input is rmsnorm(embedding): no GEMM before it, only f32 summation order.
    EXPECT_LT(ex, l == 0 ? 1e-5 : 1e-2) << "layer " << l;
    for (double e : {ekp, ekq, ev, es, ef}) EXPECT_LT(e, 1e-2) << "layer " << l;
    // Exactly symmetric, as the CPU's.
    EXPECT_EQ(G.xtx(3, 100), G.xtx(100, 3));
  }
}

Mat tensor_mat(const Tensor& t) {
  Mat m(t.dim(0), t.ndim() > 1 ? t.dim(1) : 1);
  for (int64_t i = 0; i < t.numel(); ++i) m.a[i] = t.f32()[i];
  return m;
}

// The projection a compressed layer rebuilds for one side: rows of group g = up_g · down_g.
// Independent of the per-direction signs of the SVDs.
Mat rebuilt(const Model& m, const RankPlan& plan, int l, bool key) {
  const Mat down = tensor_mat(m.extra_tensors.at(factor_name(l, key ? "k_down" : "v_down")));
  const int64_t hd = m.config.head_dim;
  Mat out(m.config.kv_dim(), down.cols);
  int64_t r0 = 0;
  for (size_t g = 0; g < plan.layers[l].groups.size(); ++g) {
    const GroupPlan& gp = plan.layers[l].groups[g];
    const int r = key ? gp.rank_k : gp.rank_v;
    const Mat up = tensor_mat(m.extra_tensors.at(factor_name(l, key ? "k_up" : "v_up", static_cast<int>(g))));
    out.set_block(gp.kv_head_begin * hd, 0, matmul(up, down.block(r0, r, 0, down.cols)));
    r0 += r;
  }
  return out;
}

TEST(CudaCalibration, CompressWithGpuFactorizerMatchesCpu) {
  LRKV_REQUIRE_CUDA();
  CalibFixture f;
  CpuEngine cpu_engine(f.model);
  auto calib = run_calibration(cpu_engine, f.tokens, f.options);
  ASSERT_TRUE(calib.ok()) << calib.status().to_string();
  auto fz = cuda::gpu_factorizer();
  ASSERT_TRUE(fz.ok()) << fz.status().to_string();
  EXPECT_EQ(fz->name, "cuda");
  for (const auto& [method, gran] : std::vector<std::pair<std::string, std::string>>{
           {"palu", "group:2"}, {"palu", "joint"}, {"lorc", "head"}, {"mkv-pca", "group:2"}}) {
    auto plan = uniform_plan(f.model.config, method, gran, 0.5);
    ASSERT_TRUE(plan.ok());
    auto c = compress_model(f.model, *plan, &*calib);
    auto g = compress_model(f.model, *plan, &*calib, *fz);
    ASSERT_TRUE(c.ok() && g.ok()) << g.status().to_string();
    ASSERT_EQ(c->extra_tensors.size(), g->extra_tensors.size());
    double worst = 0.0;
    for (int l = 0; l < f.model.config.n_layer; ++l) {
      if (plan->key_mode == KeyMode::kRebuild) {
        worst = std::max(worst, rel_fro(rebuilt(*g, *plan, l, true), rebuilt(*c, *plan, l, true)));
      } else {  // absorbed PCA keys: deterministic signs, compare the projections themselves
        for (size_t gi = 0; gi < plan->layers[l].groups.size(); ++gi) {
          const std::string name = factor_name(l, "k_proj", static_cast<int>(gi));
          worst = std::max(worst, rel_fro(tensor_mat(g->extra_tensors.at(name)), tensor_mat(c->extra_tensors.at(name))));
        }
      }
      worst = std::max(worst, rel_fro(rebuilt(*g, *plan, l, false), rebuilt(*c, *plan, l, false)));
    }
    std::printf("  compress %s %s: worst rebuilt-projection rel diff %.2e\n", method.c_str(), gran.c_str(), worst);
    EXPECT_LT(worst, 1e-5) << method << " " << gran;  // factors are stored as f32
  }
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
