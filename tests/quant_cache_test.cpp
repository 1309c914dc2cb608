// Quantized KV caches in the engine (cache/quantized_row_cache.h, cache/kivi_kv_cache.h,
// Engine::make_cache): bytes per token equal an independent formula (codes + scales + minimums);
// q8_0/q4_0/KIVI dense caches and quantized latents (both key modes) track the float cache, more
// closely with more bits; a prefill equals token-by-token decoding; the Hadamard rotation lowers
// the error of low-bit latents with outlier channels; bad combinations are clear errors.
#include <cmath>
#include <vector>

#include "cache/kivi_kv_cache.h"
#include "cache/quantized_row_cache.h"
#include "latent_test_model.h"
#include "model/cpu_engine.h"
#include "model/latent_hadamard.h"
#include "test_util.h"

namespace lrkv {
namespace {

std::vector<int> some_tokens(int n, int vocab) {
  std::vector<int> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 131 + 7) % vocab;
  t[0] = 1;
  return t;
}

// Logits of every position from one prefill (step = 0) or in chunks of `step` tokens.
std::vector<float> logits_of(const Model& m, const std::vector<int>& tokens,
                             const KvCacheSpec& spec, int step = 0) {
  CpuEngine engine(m);
  EXPECT_TRUE(engine.status().ok()) << engine.status().to_string();
  auto cache = engine.make_cache(1, static_cast<int>(tokens.size()), spec);
  EXPECT_TRUE(cache.ok()) << cache.status().to_string();
  if (!cache.ok()) return {};
  const int n = static_cast<int>(tokens.size()), chunk = step > 0 ? step : n;
  std::vector<float> all, part;
  for (int b = 0; b < n; b += chunk) {
    const int len = std::min(chunk, n - b);
    Status s = engine.forward({{0, tokens.data() + b, len}}, **cache, LogitsMode::kAll, &part);
    EXPECT_TRUE(s.ok()) << s.to_string();
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

KvCacheSpec latent_spec(int bits, int group, bool sym) {
  KvCacheSpec s;
  s.latent = {bits, group, sym};
  return s;
}

KvCacheSpec quant_spec(KvQuant q) {
  KvCacheSpec s;
  s.quant = q;
  return s;
}

TEST(QuantCacheBytes, DenseGgmlRowsMatchTheBlockFormula) {
  auto m = make_random_model(test::tiny_config(3, 4, 2, 64), 1);
  ASSERT_TRUE(m.ok());
  CpuEngine engine(*m);
  for (auto [q, block] : {std::pair{KvQuant::kQ8_0, 34}, std::pair{KvQuant::kQ4_0, 18}}) {
    auto c = engine.make_cache(2, 10, quant_spec(q));
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    const int64_t per_layer = 2 * (2 * 64 / 32) * block;  // K and V rows, kv_dim / 32 blocks each
    for (int l = 0; l < 3; ++l) EXPECT_EQ((*c)->bytes_per_token(l), per_layer);
    EXPECT_EQ((*c)->bytes_per_token(), 3 * per_layer);
    EXPECT_EQ((*c)->allocated_bytes(), 2 * 10 * 3 * per_layer);
  }
}

TEST(QuantCacheBytes, LatentRowsMatchThePackedFormula) {
  LlamaConfig cfg = test::tiny_config(2, 6, 3, 10);
  test::LatentModelOptions o;
  o.budget = 0.37;  // odd ranks
  const Model m = test::make_latent_test_model(cfg, o);
  CpuEngine engine(m);
  ASSERT_TRUE(engine.status().ok()) << engine.status().to_string();
  for (int bits : {8, 4, 3, 2}) {
    for (int group : {0, 4, 32}) {
      for (bool sym : {false, true}) {
        auto c = engine.make_cache(1, 5, latent_spec(bits, group, sym));
        ASSERT_TRUE(c.ok()) << c.status().to_string();
        for (int l = 0; l < cfg.n_layer; ++l) {
          int64_t want = 0;
          for (const GroupPlan& g : engine.latent_layers()[l].groups) {
            for (int r : {g.rank_k, g.rank_v}) {
              const int gs = group > 0 ? group : r;
              want += (r + gs - 1) / gs * (sym ? 2 : 4) + (r * bits + 7) / 8;
            }
          }
          EXPECT_EQ((*c)->bytes_per_token(l), want)
              << bits << " bits, group " << group << (sym ? " sym" : " asym");
        }
      }
    }
  }
}

TEST(QuantCacheEngine, DenseBaselinesTrackTheFloatCache) {
  auto m = make_random_model(test::tiny_config(2, 4, 2, 32), 3);
  ASSERT_TRUE(m.ok());
  const auto tokens = some_tokens(60, m->config.n_vocab);
  const auto f32 = logits_of(*m, tokens, DType::kF32);
  const double e8 = rel_err(logits_of(*m, tokens, quant_spec(KvQuant::kQ8_0)), f32);
  const double e4 = rel_err(logits_of(*m, tokens, quant_spec(KvQuant::kQ4_0)), f32);
  KvCacheSpec kivi = quant_spec(KvQuant::kKivi);
  kivi.kivi = {2, 8, 16};
  const double ek = rel_err(logits_of(*m, tokens, kivi), f32);
  const double e16 = rel_err(logits_of(*m, tokens, DType::kF16), f32);
  // Random weights amplify cache errors; the real-model test bounds perplexity instead.
  EXPECT_LT(e16, e8);
  EXPECT_LT(e8, e4);
  EXPECT_LT(e8, 3e-2);
  EXPECT_LT(e4, 0.35);
  EXPECT_LT(ek, 0.5);
  EXPECT_GT(ek, 0.0);
}

TEST(QuantCacheEngine, PrefillEqualsTokenByTokenDecode) {
  auto m = make_random_model(test::tiny_config(2, 4, 2, 32), 4);
  ASSERT_TRUE(m.ok());
  const auto tokens = some_tokens(41, m->config.n_vocab);
  KvCacheSpec kivi = quant_spec(KvQuant::kKivi);
  kivi.kivi = {2, 4, 8};
  for (const KvCacheSpec& spec : {quant_spec(KvQuant::kQ8_0), quant_spec(KvQuant::kQ4_0), kivi}) {
    const auto whole = logits_of(*m, tokens, spec);
    // KIVI's per-channel key scales depend on every row of a group, so the last-bit differences
    // of batched vs single-row GEMMs can move a code: allow 2% of its quantisation error.
    const double tol = spec.quant == KvQuant::kKivi
                           ? 0.02 * rel_err(whole, logits_of(*m, tokens, DType::kF32))
                           : 1e-5;
    for (int step : {1, 7}) {
      EXPECT_LT(rel_err(logits_of(*m, tokens, spec, step), whole), tol)
          << spec.name() << " step " << step;
    }
  }
  test::LatentModelOptions o;
  for (const char* method : {"palu", "mkv-pca"}) {
    o.method = method;
    const Model cm = test::make_latent_test_model(test::tiny_config(2, 4, 2, 8), o);
    const auto whole = logits_of(cm, tokens, latent_spec(3, 4, false));
    EXPECT_LT(rel_err(logits_of(cm, tokens, latent_spec(3, 4, false), 1), whole), 1e-5) << method;
  }
}

TEST(QuantCacheEngine, LatentErrorShrinksWithBits) {
  for (const char* method : {"palu", "mkv-pca"}) {
    test::LatentModelOptions o;
    o.method = method;
    o.granularity = "group:2";
    const Model m = test::make_latent_test_model(test::tiny_config(2, 4, 4, 8), o);
    const auto tokens = some_tokens(30, m.config.n_vocab);
    const auto f32 = logits_of(m, tokens, DType::kF32);
    double prev = 0.0;
    for (int bits : {8, 4, 2}) {
      const double e = rel_err(logits_of(m, tokens, latent_spec(bits, 8, false)), f32);
      EXPECT_GT(e, prev) << method << " " << bits << " bits";
      prev = e;
      if (bits == 8) EXPECT_LT(e, 5e-3) << method;
    }
    EXPECT_LT(rel_err(logits_of(m, tokens, latent_spec(8, 0, true)), f32), 1e-2)
        << method << " symmetric";
  }
}

TEST(QuantCacheEngine, GgmlBlocksOnLatentsOfWholeBlocks) {
  test::LatentModelOptions o;
  o.granularity = "joint";
  const Model m = test::make_latent_test_model(test::tiny_config(2, 4, 2, 32), o);  // ranks 32
  const auto tokens = some_tokens(20, m.config.n_vocab);
  const auto f32 = logits_of(m, tokens, DType::kF32);
  EXPECT_LT(rel_err(logits_of(m, tokens, quant_spec(KvQuant::kQ8_0)), f32), 3e-2);
}

TEST(QuantCacheEngine, HadamardLowersLowBitErrorWithOutliers) {
  test::LatentModelOptions o;
  o.outlier = 8.0f;
  o.biases = false;
  o.budget = 1.0;
  LlamaConfig cfg = test::tiny_config(2, 4, 2, 16);
  Model plain = test::make_latent_test_model(cfg, o);
  Model rotated = test::make_latent_test_model(cfg, o);
  ASSERT_TRUE(fold_hadamard_factors(rotated).ok());
  const auto tokens = some_tokens(40, cfg.n_vocab);
  const auto f32 = logits_of(plain, tokens, DType::kF32);
  for (int bits : {4, 3, 2}) {
    const double e_plain = rel_err(logits_of(plain, tokens, latent_spec(bits, 0, false)), f32);
    const double e_rot = rel_err(logits_of(rotated, tokens, latent_spec(bits, 0, false)), f32);
    EXPECT_LT(e_rot, 0.7 * e_plain) << bits << " bits";
  }
}

TEST(QuantCacheEngine, BadCombinationsAreClearErrors) {
  auto dense = make_random_model(test::tiny_config(2, 4, 2, 6), 5);
  ASSERT_TRUE(dense.ok());
  CpuEngine e(*dense);
  auto r = e.make_cache(1, 8, quant_spec(KvQuant::kQ8_0));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("head_dim"), std::string::npos) << r.status().message();
  r = e.make_cache(1, 8, latent_spec(4, 32, false));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("compressed"), std::string::npos) << r.status().message();
  r = e.make_cache(1, 8, latent_spec(5, 32, false));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--latent-bits 5: expected 8, 4, 3 or 2"), std::string::npos);

  const Model cm = test::make_latent_test_model(test::tiny_config(2, 4, 2, 8), {});
  CpuEngine ce(cm);
  r = ce.make_cache(1, 8, quant_spec(KvQuant::kKivi));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--latent-bits"), std::string::npos) << r.status().message();
  r = ce.make_cache(1, 8, quant_spec(KvQuant::kQ4_0));  // ranks of 4: not whole blocks
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("layer 0"), std::string::npos) << r.status().message();
  // A cache made for another model is refused by forward().
  auto other = e.make_cache(1, 8, DType::kF32);
  ASSERT_TRUE(other.ok());
  std::vector<float> logits;
  const auto t = some_tokens(3, cm.config.n_vocab);
  test::expect_error(ce.forward({{0, t.data(), 3}}, **other, LogitsMode::kLast, &logits),
                     ErrorCode::kInvalidArgument, {"cache"});
}

}  // namespace
}  // namespace lrkv
