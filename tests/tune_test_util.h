// Shared set-up of the tune_*_test.cpp suites: a tiny random model with its calibration, token
// windows, engine logits, and a fixed-rank distillation loss.
#pragma once

#include <cmath>

#include "compress/calibration.h"
#include "model/cpu_engine.h"
#include "model/synth.h"
#include "model/train/fisher.h"
#include "model/train/train_step.h"
#include "test_util.h"

namespace lrkv::test {

struct TuneFixture {
  Model model;
  CalibrationStats calib;
  std::vector<int> tokens;  // [n] i.i.d. uniform pseudo-random tokens
};

inline TuneFixture make_tune_fixture(const LlamaConfig& c, uint64_t seed, int n_tokens = 1200) {
  TuneFixture f;
  f.model = std::move(make_random_model(c, seed)).value();
  uint64_t x = seed;  // i.i.d. uniform tokens: held windows follow the training distribution
  for (int i = 0; i < n_tokens; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    f.tokens.push_back(static_cast<int>((x >> 33) % static_cast<uint64_t>(c.n_vocab)));
  }
  CpuEngine e(f.model);
  CalibrationOptions o;
  o.ctx = 32;
  o.progress = false;
  f.calib = std::move(run_calibration(e, f.tokens, o)).value();
  return f;
}

inline std::vector<float> engine_logits(const Model& m, const std::vector<int>& tokens) {
  CpuEngine engine(m);
  EXPECT_TRUE(engine.status().ok()) << engine.status().to_string();
  auto cache = engine.make_cache(1, static_cast<int>(tokens.size()));
  EXPECT_TRUE(cache.ok());
  std::vector<float> out;
  EXPECT_TRUE(engine
                  .forward({{0, tokens.data(), static_cast<int>(tokens.size())}}, **cache,
                           LogitsMode::kAll, &out)
                  .ok());
  return out;
}

// max |a − b| / max |b|
inline double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    num = std::max(num, std::fabs(static_cast<double>(a[i]) - b[i]));
    den = std::max(den, std::fabs(static_cast<double>(b[i])));
  }
  return num / den;
}

// Mean distillation loss (0.75 CE + 0.25 KL against the plain model) of `proj` over `batches`.
inline LossValue projected_loss(const Model& m, const KvProjections& proj,
                                const std::vector<TokenBatch>& batches) {
  auto teacher = TrainForward::create(m).value();
  auto student = TrainForward::create(m).value();
  EXPECT_TRUE(student.set_projections(&proj).ok());
  LossValue sum;
  for (const TokenBatch& b : batches) {
    EXPECT_TRUE(teacher.forward(b).ok());
    EXPECT_TRUE(student.forward(b).ok());
    LossOptions o;
    o.ce_weight = 0.75f;
    o.kl_weight = 0.25f;
    o.teacher = teacher.logits().data();
    std::vector<float> d(student.logits().size());
    auto v = next_token_loss(student.sequences(), student.tokens(), student.logits().data(),
                             m.config.n_vocab, o, d.data());
    EXPECT_TRUE(v.ok());
    sum.total += v->total / batches.size();
    sum.ce += v->ce / batches.size();
    sum.kl += v->kl / batches.size();
  }
  return sum;
}

}  // namespace lrkv::test
