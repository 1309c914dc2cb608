// Latent attention: kernels against their fp64 references, and compressed models (ranks that
// differ per layer, group, K and V) against an fp64 forward that reconstructs keys and values
// explicitly from the factors (reference_forward_latent) — the obviously-correct twin of
// absorbing queries / folding values into W_o. Also batching and incremental decode.
#include <cmath>
#include <random>

#include "compress/calibration.h"
#include "compress/compressor.h"
#include "kernels/elem.h"
#include "kernels/latent_attention.h"
#include "kernels/rebuild_keys.h"
#include "model/cpu_engine.h"
#include "model/synth.h"
#include "reference_forward.h"
#include "test_util.h"

namespace lrkv {
namespace {

using test::randn;

TEST(LatentKernels, LatentAttentionMatchesReference) {
  // 5 heads reading segments of different lengths and offsets (as groups of different ranks do).
  const int n_head = 5, n_q = 4, start = 13;
  const std::vector<int> k_off = {0, 0, 7, 7, 19}, k_len = {7, 7, 12, 12, 3};
  const std::vector<int> v_off = {0, 0, 5, 5, 14}, v_len = {5, 5, 9, 9, 6};
  std::vector<int> qk_off(n_head), z_off(n_head);
  int qw = 0, zw = 0;
  for (int h = 0; h < n_head; ++h) {
    qk_off[h] = qw;
    qw += k_len[h];
    z_off[h] = zw;
    zw += v_len[h];
  }
  const int ldk = 22, ldv = 20, n_kv = start + n_q;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    auto q = randn(n_q * qw, 1, 1.5f);
    std::vector<uint8_t> k(dtype_bytes(t, n_kv * ldk)), v(dtype_bytes(t, n_kv * ldv));
    store_row(k.data(), t, randn(n_kv * ldk, 2).data(), n_kv * ldk);
    store_row(v.data(), t, randn(n_kv * ldv, 3).data(), n_kv * ldv);
    std::vector<int> pos(n_q);
    for (int i = 0; i < n_q; ++i) pos[i] = start + i;
    std::vector<float> a(n_q * zw, NAN), b(n_q * zw, NAN);
    LatentAttentionParams p{n_q, pos.data(), n_head, q.data(), qw, qk_off.data(), k.data(), ldk, t,
                            k_off.data(), k_len.data(), v.data(), ldv, t, v_off.data(), v_len.data(),
                            a.data(), zw, z_off.data(), 0.3f};
    ref::latent_attention(p);
    p.z = b.data();
    cpu::latent_attention(p);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(b[i], a[i], 2e-5 * (1 + std::fabs(a[i]))) << dtype_name(t) << " " << i;
  }
}

TEST(LatentKernels, RebuildKeysMatchesReference) {
  const int hd = 6, n_rows = 9;
  const std::vector<int> rows = {12, 6}, row_off = {0, 12}, lat_off = {0, 5}, rank = {5, 3};
  const int ldc = 8, ldk = 18;
  auto up0 = randn(12 * 5, 4), up1 = randn(6 * 3, 5), bias = randn(ldk, 6);
  const float* ups[] = {up0.data(), up1.data()};
  LlamaConfig cfg = test::tiny_config();
  cfg.head_dim = hd;
  std::vector<float> inv(hd / 2);
  rope_inverse_frequencies(cfg, inv.data());
  for (RopeLayout layout : {RopeLayout::kInterleaved, RopeLayout::kHalfSplit}) {
    for (DType t : {DType::kF32, DType::kF16}) {
      std::vector<uint8_t> c(dtype_bytes(t, n_rows * ldc));
      store_row(c.data(), t, randn(n_rows * ldc, 7).data(), n_rows * ldc);
      std::vector<float> a(n_rows * ldk, NAN), b(n_rows * ldk, NAN);
      RebuildKeysParams p{c.data(), ldc, t, n_rows, 3, 2, rows.data(), row_off.data(), lat_off.data(), rank.data(),
                          ups, bias.data(), hd, inv.data(), layout, a.data(), ldk};
      ref::rebuild_keys(p);
      p.k = b.data();
      cpu::rebuild_keys(p);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(b[i], a[i], 1e-5 * (1 + std::fabs(a[i]))) << i;
    }
  }
}

// A plan with ranks differing per layer, group and K/V.
RankPlan ragged_plan(const LlamaConfig& c, const std::string& method, KeyMode mode) {
  RankPlan p;
  p.method = method;
  p.granularity = "custom";
  p.key_mode = mode;
  std::mt19937 rng(5);
  for (int l = 0; l < c.n_layer; ++l) {
    LayerPlan lp;
    int h = 0;
    for (int s : {1, c.n_kv_head - 1}) {
      std::uniform_int_distribution<int> r(1, s * c.head_dim);
      lp.groups.push_back({h, s, r(rng), r(rng)});
      h += s;
    }
    p.layers.push_back(lp);
  }
  return p;
}

class LatentModel : public ::testing::TestWithParam<std::tuple<const char*, bool>> {};

TEST_P(LatentModel, MatchesExplicitReconstruction) {
  const auto [method, bias] = GetParam();
  LlamaConfig cfg = test::tiny_config(2, 6, 3, 8);
  cfg.qkv_bias = bias;
  auto model = make_random_model(cfg, 21);
  ASSERT_TRUE(model.ok());
  CpuEngine base(*model);
  CalibrationOptions co;
  co.ctx = 32;
  co.progress = false;
  std::vector<int> calib_tokens(200);
  for (int i = 0; i < 200; ++i) calib_tokens[i] = (i * 37 + 5) % cfg.n_vocab;
  auto calib = run_calibration(base, calib_tokens, co);
  ASSERT_TRUE(calib.ok());
  const KeyMode mode = std::string(method) == "mkv-pca" ? KeyMode::kAbsorbed : KeyMode::kRebuild;
  const RankPlan plan = ragged_plan(cfg, method, mode);
  ASSERT_TRUE(plan.validate(cfg, "plan").ok());
  auto cm = compress_model(*model, plan, &*calib);
  ASSERT_TRUE(cm.ok()) << cm.status().to_string();
  CpuEngine engine(*cm);
  ASSERT_TRUE(engine.status().ok()) << engine.status().to_string();
  std::vector<int> tokens(33);
  for (int i = 0; i < 33; ++i) tokens[i] = (i * 91 + 2) % cfg.n_vocab;
  auto cache = engine.make_cache(1, 40);
  ASSERT_TRUE(cache.ok());
  std::vector<float> got;
  ASSERT_TRUE(engine.forward({{0, tokens.data(), 33}}, **cache, LogitsMode::kAll, &got).ok());
  const std::vector<double> want = test::reference_forward_latent(*cm, engine.latent_layers(), tokens);
  std::vector<float> wantf(want.begin(), want.end());
  const auto [lo, hi] = std::minmax_element(wantf.begin(), wantf.end());
  EXPECT_LT(test::max_abs_diff(got, wantf).value, 1e-5 * (*hi - *lo)) << method;
  // The same tokens decoded one at a time after a prefill of 10, and inside a batch.
  auto c2 = engine.make_cache(2, 40);
  std::vector<float> step;
  ASSERT_TRUE(engine.forward({{1, tokens.data(), 10}, {0, tokens.data(), 5}}, **c2, LogitsMode::kLast, &step).ok());
  const int64_t V = cfg.n_vocab;
  for (int t = 10; t < 33; ++t) {
    ASSERT_TRUE(engine.forward({{1, &tokens[t], 1}}, **c2, LogitsMode::kLast, &step).ok());
    for (int64_t i = 0; i < V; ++i) ASSERT_NEAR(step[i], got[t * V + i], 1e-5 * (*hi - *lo)) << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, LatentModel,
                         ::testing::Combine(::testing::Values("palu", "lorc", "mkv-pca"), ::testing::Bool()),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param);
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n + (std::get<1>(info.param) ? "_bias" : "");
                         });

}  // namespace
}  // namespace lrkv
