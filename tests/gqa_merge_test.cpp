// MHA -> GQA head merging: g = 1 reproduces the original logits, the per-frequency complex
// mixing commutes with RoPE at random positions, merged models are plain GQA models that
// round-trip through GGUF and safetensors, and merging GQA models further works.
#include <cmath>
#include <complex>
#include <random>

#include "compress/calibration.h"
#include "io/model_io.h"
#include "compress/gqa_merge.h"
#include "kernels/rope.h"
#include "model/cpu_engine.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

using test::logits_of;

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(static_cast<double>(a[i]) - b[i]));
    den = std::max(den, std::fabs(static_cast<double>(b[i])));
  }
  return num / den;
}

struct Fixture {
  Model model;
  CalibrationStats calib;
  std::vector<int> tokens;
};

Fixture make(int n_head, int n_kv, int hd, RopeLayout layout, bool bias) {
  Fixture f;
  LlamaConfig c = test::tiny_config(2, n_head, n_kv, hd);
  c.rope_layout = layout;
  c.qkv_bias = bias;
  f.model = std::move(make_random_model(c, 41)).value();
  for (int i = 0; i < 300; ++i) f.tokens.push_back((i * 71 + 3) % c.n_vocab);
  CpuEngine e(f.model);
  CalibrationOptions o;
  o.ctx = 32;
  o.progress = false;
  f.calib = std::move(run_calibration(e, f.tokens, o)).value();
  f.tokens.resize(40);
  return f;
}

TEST(GqaMerge, GroupOfOneReproducesTheModel) {
  for (RopeLayout layout : {RopeLayout::kInterleaved, RopeLayout::kHalfSplit}) {
    for (bool bias : {false, true}) {
      Fixture f = make(4, 4, 8, layout, bias);
      auto merged = merge_kv_heads(f.model, f.calib, 1);
      ASSERT_TRUE(merged.ok()) << merged.status().to_string();
      EXPECT_LT(rel(logits_of(*merged, f.tokens), logits_of(f.model, f.tokens)), 1e-5);
    }
  }
}

TEST(GqaMerge, KeyMixingCommutesWithRope) {
  // Merged keys two ways at random positions p: RoPE_p(W_k' x) (the exported model) and
  // Σ_j c_ij · RoPE_p(W_k x)_j (mixing the original heads' rotated pairs). Equal to fp32 rounding
  // only if the complex mixing commutes with RoPE and the pair indexing matches the layout.
  for (RopeLayout layout : {RopeLayout::kInterleaved, RopeLayout::kHalfSplit}) {
    Fixture f = make(4, 4, 8, layout, false);
    const LlamaConfig& c = f.model.config;
    const int g = 2;
    auto merged = merge_kv_heads(f.model, f.calib, g);
    ASSERT_TRUE(merged.ok());
    std::vector<float> inv(c.head_dim / 2);
    rope_inverse_frequencies(c, inv.data());
    std::mt19937 rng(3);
    std::normal_distribution<float> nd;
    std::uniform_int_distribution<int> pos_d(0, 100000);
    const int64_t d = c.d_model, hd = c.head_dim, half = hd / 2;
    for (int layer = 0; layer < c.n_layer; ++layer) {
      const Tensor& wk = f.model.weights.layers[layer].wk;
      const Tensor& wk2 = merged->weights.layers[layer].wk;
      for (int trial = 0; trial < 10; ++trial) {
        std::vector<float> x(d);
        for (auto& v : x) v = nd(rng);
        auto project = [&](const Tensor& w, int rows) {
          std::vector<float> y(rows, 0.0f);
          for (int r = 0; r < rows; ++r) {
            for (int64_t k = 0; k < d; ++k) y[r] += w.f32()[r * d + k] * x[k];
          }
          return y;
        };
        std::vector<float> k = project(wk, c.kv_dim()), k2 = project(wk2, merged->config.kv_dim());
        std::vector<int> pv = {pos_d(rng)};
        cpu::rope({k.data(), 1, c.kv_dim(), c.n_kv_head, c.head_dim, pv.data(), inv.data(), layout, false});
        cpu::rope({k2.data(), 1, merged->config.kv_dim(), merged->config.n_kv_head, c.head_dim, pv.data(), inv.data(),
                   layout, false});
        for (int G = 0; G < merged->config.n_kv_head; ++G) {
          auto coef = key_mix_coefficients(f.calib, layer, G, g);
          ASSERT_TRUE(coef.ok());
          for (int i = 0; i < half; ++i) {
            const int a = layout == RopeLayout::kInterleaved ? 2 * i : i;
            const int b = layout == RopeLayout::kInterleaved ? 2 * i + 1 : i + static_cast<int>(half);
            std::complex<double> mixed = 0, scale = 0;
            for (int j = 0; j < g; ++j) {
              const int64_t h = (G * g + j) * hd;
              mixed += (*coef)[i * g + j] * std::complex<double>(k[h + a], k[h + b]);
              scale += std::abs(std::complex<double>(k[h + a], k[h + b]));
            }
            const std::complex<double> got(k2[G * hd + a], k2[G * hd + b]);
            EXPECT_NEAR(std::abs(got - mixed), 0.0, 1e-5 * (1 + scale.real())) << "layer " << layer << " pair " << i;
          }
        }
      }
    }
  }
}

TEST(GqaMerge, MergedModelIsPlainGqaAndRoundTrips) {
  Fixture f = make(4, 4, 8, RopeLayout::kInterleaved, false);
  auto merged = merge_kv_heads(f.model, f.calib, 2);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->config.n_kv_head, 2);
  EXPECT_TRUE(merged->extra_tensors.empty());
  EXPECT_TRUE(merged->extra_metadata.empty());
  EXPECT_FALSE(merged->compressed());
  const std::vector<float> want = logits_of(*merged, f.tokens);
  for (const char* ext : {".gguf", ".safetensors"}) {
    const std::string path = test::temp_dir() + "/merged" + ext;
    ASSERT_TRUE(save_model(*merged, path).ok());
    auto back = load_model(path);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->config.n_kv_head, 2);
    EXPECT_LT(rel(logits_of(*back, f.tokens), want), 1e-5) << ext;
  }
  // Merging the GQA model again (2 -> 1 KV head) works and stays close to the original-ish.
  CpuEngine e(*merged);
  CalibrationOptions o;
  o.ctx = 32;
  o.progress = false;
  std::vector<int> t(300);
  for (int i = 0; i < 300; ++i) t[i] = (i * 71 + 3) % merged->config.n_vocab;
  auto c2 = run_calibration(e, t, o);
  ASSERT_TRUE(c2.ok());
  auto mqa = merge_kv_heads(*merged, *c2, 2);
  ASSERT_TRUE(mqa.ok());
  EXPECT_EQ(mqa->config.n_kv_head, 1);
  EXPECT_EQ(logits_of(*mqa, f.tokens).size(), want.size());
  EXPECT_FALSE(merge_kv_heads(f.model, f.calib, 3).ok());
}

}  // namespace
}  // namespace lrkv
