// Synthetic models (model/synth.h): the uniform draws that speed benchmarks use have the normal
// draws' mean and spread (moments over a 512 x 64 embedding, bounds from the sample sizes), a
// bounded support of sqrt(3) standard deviations, and are deterministic in the seed.
#include <algorithm>
#include <cmath>

#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

struct Moments {
  double mean = 0.0, sd = 0.0, max_abs = 0.0;
};

Moments moments(const Tensor& t, double center) {
  const float* x = t.f32();
  const int64_t n = t.numel();
  Moments m;
  for (int64_t i = 0; i < n; ++i) m.mean += x[i];
  m.mean /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    m.sd += (x[i] - m.mean) * (x[i] - m.mean);
    m.max_abs = std::max(m.max_abs, std::fabs(x[i] - center));
  }
  m.sd = std::sqrt(m.sd / static_cast<double>(n - 1));
  return m;
}

TEST(Synth, UniformDrawsMatchTheNormalDrawsMoments) {
  auto cfg = preset_config("tiny");
  ASSERT_TRUE(cfg.ok());
  auto normal = make_random_model(*cfg, 7, DType::kF32, RandomFill::kNormal);
  auto uniform = make_random_model(*cfg, 7, DType::kF32, RandomFill::kUniform);
  auto again = make_random_model(*cfg, 7, DType::kF32, RandomFill::kUniform);
  ASSERT_TRUE(normal.ok() && uniform.ok() && again.ok());
  const double sigma = 1.0 / std::sqrt(static_cast<double>(cfg->d_model));  // N(0, 1/in_features)
  const Tensor& eu = uniform->weights.tok_embd;
  const double n = static_cast<double>(eu.numel());
  for (const Model* m : {&*normal, &*uniform}) {
    const Moments s = moments(m->weights.tok_embd, 0.0);
    EXPECT_LT(std::fabs(s.mean), 5.0 * sigma / std::sqrt(n));           // 5 standard errors
    EXPECT_NEAR(s.sd / sigma, 1.0, 5.0 * std::sqrt(1.0 / (2.0 * n)) + 5.0 / n);  // sd of a sample sd
  }
  // Uniform in [-sqrt(3) sigma, sqrt(3) sigma); normal draws pass that bound (8% of them do).
  EXPECT_LE(moments(eu, 0.0).max_abs, std::sqrt(3.0) * sigma * (1.0 + 1e-6));
  EXPECT_GT(moments(normal->weights.tok_embd, 0.0).max_abs, std::sqrt(3.0) * sigma * 1.5);
  // RMSNorm gains ~ 1 +- 0.1 sqrt(3), deterministic in the seed.
  EXPECT_LE(moments(uniform->weights.layers[0].attn_norm, 1.0).max_abs, 0.1 * std::sqrt(3.0) * (1.0 + 1e-6));
  EXPECT_TRUE(std::equal(eu.f32(), eu.f32() + eu.numel(), again->weights.tok_embd.f32()));
}

}  // namespace
}  // namespace lrkv
