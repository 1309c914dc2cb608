// Optimiser and per-step schedule of distillation: Adam's bias-corrected first step and
// convergence on a quadratic, clipping, state restore reproducing a run; Matryoshka rank sets
// and draws, epoch-wise batch shuffles and the learning-rate schedule, all deterministic.
#include <algorithm>
#include <cmath>
#include <set>

#include "compress/tune/adam.h"
#include "compress/tune/schedule.h"
#include "test_util.h"

namespace lrkv {
namespace {

// f(x) = ½ Σ c_i (x_i − t_i)²
struct Quadratic {
  std::vector<float> x{3.0f, -2.0f, 0.5f, 10.0f},
      g = std::vector<float>(4), c{1.0f, 4.0f, 0.25f, 2.0f}, t{1.0f, 1.0f, -1.0f, 0.0f};
  void grad() {
    for (size_t i = 0; i < x.size(); ++i) g[i] = c[i] * (x[i] - t[i]);
  }
  std::vector<ParamRef> params() { return {{"x", x.data(), g.data(), 4}}; }
};

TEST(TuneAdam, FirstStepIsLrTimesSignAndItConverges) {
  Quadratic q;
  Adam adam({0.1, 0.9, 0.999, 1e-8, 0.0});
  q.grad();
  const std::vector<float> x0 = q.x;
  ASSERT_TRUE(adam.step(q.params(), 0.1).ok());
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(q.x[i], x0[i] - 0.1 * (q.g[i] > 0 ? 1 : -1), 1e-6);
  for (int s = 0; s < 2000; ++s) {
    q.grad();
    ASSERT_TRUE(adam.step(q.params(), 0.05).ok());
  }
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(q.x[i], q.t[i], 1e-2) << i;
  EXPECT_EQ(adam.steps(), 2001);
}

TEST(TuneAdam, ClippingScalesTheGradientAndReportsTheNorm) {
  std::vector<float> x{0.0f, 0.0f}, g{3.0f, 4.0f};
  Adam adam({1.0, 0.0, 0.0, 0.0, 1.0});  // beta = 0: update = lr * g / |g| elementwise
  auto n = adam.step({{"x", x.data(), g.data(), 2}}, 1.0);
  ASSERT_TRUE(n.ok());
  EXPECT_DOUBLE_EQ(*n, 5.0);
  EXPECT_NEAR(x[0], -1.0f, 1e-6);  // sign-like update, the clipping scale cancels
  EXPECT_NEAR(adam.state().at("x").v[0], 0.6f * 0.6f, 1e-6);  // (3 / 5 * 1)²
}

TEST(TuneAdam, RestoredStateContinuesIdentically) {
  Quadratic a, b;
  Adam oa, ob;
  for (int s = 0; s < 5; ++s) {
    a.grad();
    ASSERT_TRUE(oa.step(a.params(), 0.1).ok());
  }
  b.x = a.x;
  ob.restore(oa.steps(), oa.state());
  for (int s = 0; s < 5; ++s) {
    a.grad();
    b.grad();
    ASSERT_TRUE(oa.step(a.params(), 0.1).ok());
    ASSERT_TRUE(ob.step(b.params(), 0.1).ok());
  }
  EXPECT_EQ(a.x, b.x);
  std::vector<float> small(3), sg(3);
  EXPECT_FALSE(
      ob.step({{"x", small.data(), sg.data(), 3}}, 0.1).ok());  // size differs from the state
}

TEST(TuneSchedule, MatryoshkaRankSets) {
  EXPECT_EQ(matryoshka_rank_set(128), (std::vector<int>{16, 32, 48, 64, 80, 96, 112, 128}));
  EXPECT_EQ(matryoshka_rank_set(64), (std::vector<int>{8, 16, 24, 32, 40, 48, 56, 64}));
  EXPECT_EQ(matryoshka_rank_set(256).front(), 16);
  EXPECT_EQ(matryoshka_rank_set(256).size(), 16u);
  EXPECT_EQ(matryoshka_rank_set(6), (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(matryoshka_rank_set(12).back(), 12);
}

TEST(TuneSchedule, RankDrawsAreDeterministicAndCoverTheSet) {
  LlamaConfig c = test::tiny_config(3, 4, 4, 64);
  KvProjections P = KvProjections::identity(c), Q = P;
  const std::vector<int> set = matryoshka_rank_set(64);
  std::set<int> seen;
  for (int64_t step = 0; step < 50; ++step) {
    sample_matryoshka_ranks(P, set, 5, step);
    sample_matryoshka_ranks(Q, set, 5, step);
    for (size_t i = 0; i < P.heads.size(); ++i) {
      ASSERT_EQ(P.heads[i].rank_k, Q.heads[i].rank_k);
      ASSERT_EQ(P.heads[i].rank_v, Q.heads[i].rank_v);
      seen.insert(P.heads[i].rank_k);
      seen.insert(P.heads[i].rank_v);
    }
  }
  EXPECT_EQ(seen, std::set<int>(set.begin(), set.end()));
}

TEST(TuneSchedule, BatchesArePermutedEachEpoch) {
  const int64_t n = 7;
  std::vector<int64_t> e0, e1;
  for (int64_t s = 0; s < n; ++s) e0.push_back(batch_for_step(3, s, n));
  for (int64_t s = n; s < 2 * n; ++s) e1.push_back(batch_for_step(3, s, n));
  std::vector<int64_t> sorted0 = e0, sorted1 = e1;
  std::sort(sorted0.begin(), sorted0.end());
  std::sort(sorted1.begin(), sorted1.end());
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(sorted0[i], i);
  EXPECT_EQ(sorted0, sorted1);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(batch_for_step(3, 9, n), e1[2]);
}

TEST(TuneSchedule, LearningRateWarmupAndCosine) {
  const LrSchedule s{1e-3, 10, 110, 0.1};
  EXPECT_NEAR(s.at(0), 1e-4, 1e-12);
  EXPECT_NEAR(s.at(9), 1e-3, 1e-12);
  EXPECT_NEAR(s.at(10), 1e-3, 1e-12);
  EXPECT_NEAR(s.at(109), 1e-4, 1e-12);
  EXPECT_GT(s.at(50), s.at(60));
  const LrSchedule flat{2e-3, 0, 100, 1.0};
  EXPECT_DOUBLE_EQ(flat.at(0), 2e-3);
  EXPECT_DOUBLE_EQ(flat.at(99), 2e-3);
}

}  // namespace
}  // namespace lrkv
