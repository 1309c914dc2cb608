// Rank planners: every planner meets the budget exactly, is deterministic, never lowers the total
// for a larger budget, and behaves as its rule says on constructed inputs.
#include <cmath>
#include <numeric>

#include "compress/calibration.h"
#include "compress/planners/run_planner.h"
#include "model/cpu_engine.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

class PlannersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = make_random_model(test::tiny_config(3, 4, 4, 8), 31);
    ASSERT_TRUE(m.ok());
    model_ = std::move(m).value();
    CpuEngine engine(model_);
    for (int i = 0; i < 300; ++i) tokens_.push_back((i * 53 + 9) % model_.config.n_vocab);
    CalibrationOptions o;
    o.ctx = 32;
    o.progress = false;
    auto c = run_calibration(engine, tokens_, o);
    ASSERT_TRUE(c.ok());
    calib_ = std::move(c).value();
  }
  PlannerInputs inputs(const std::string& planner, const std::string& method, const std::string& gran, double b) {
    PlannerInputs in;
    in.model = &model_;
    in.calib = &calib_;
    in.method = method;
    in.granularity = gran;
    in.planner = planner;
    in.budget = b;
    in.greedy.tokens = tokens_;
    in.greedy.ctx = 16;
    in.greedy.n_windows = 2;
    in.greedy.step = 4;
    in.greedy.commit_fraction = 0.5;
    in.greedy.progress = false;
    in.round_to = 4;
    if (planner == "fisher") {  // importances: deeper layers and values more important
      const int s = gran == "head" ? 1 : gran == "joint" ? 4 : 2;
      for (const Slot& sl : enumerate_slots(model_.config, s)) in.fisher_importance.push_back(1.0 + sl.layer + 2.0 * sl.is_v);
    }
    return in;
  }
  Model model_;
  CalibrationStats calib_;
  std::vector<int> tokens_;
};

TEST_F(PlannersTest, EveryPlannerMeetsTheBudgetExactlyAndIsDeterministic) {
  const LlamaConfig& c = model_.config;
  for (const std::string planner : {"uniform", "progressive", "energy", "fisher", "greedy-kl"}) {
    for (const std::string method : {"palu", "lorc", "mkv-pca"}) {
      int64_t prev = 0;
      for (double b : {0.25, 0.5, 0.75}) {
        const std::string gran = planner == "greedy-kl" ? "joint" : "group:2";
        auto p = run_planner(inputs(planner, method, gran, b));
        ASSERT_TRUE(p.ok()) << planner << " " << method << ": " << p.status().to_string();
        EXPECT_TRUE(p->validate(c, "plan").ok());
        EXPECT_EQ(p->latent_values_per_token(), budget_target(c, b)) << planner << " " << method << " " << b;
        EXPECT_GE(p->latent_values_per_token(), prev);
        prev = p->latent_values_per_token();
        auto again = run_planner(inputs(planner, method, gran, b));
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(again->to_json(), p->to_json()) << planner << " is not deterministic";
      }
    }
  }
}

TEST_F(PlannersTest, FisherFollowsImportanceAndRoundsToGranularity) {
  auto p = run_planner(inputs("fisher", "palu", "head", 0.5));
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  // Values (importance +2) keep at least as much as keys, deeper layers at least as much.
  for (const auto& l : p->layers) {
    for (const auto& g : l.groups) EXPECT_GE(g.rank_v, g.rank_k);
  }
  EXPECT_GE(p->layers[2].groups[0].rank_k, p->layers[0].groups[0].rank_k);
  int off_grid = 0;
  for (const auto& l : p->layers) {
    for (const auto& g : l.groups) off_grid += (g.rank_k % 4 != 0) + (g.rank_v % 4 != 0);
  }
  EXPECT_LE(off_grid, 2) << "only the final exact-total adjustment may leave the rounding grid";
}

TEST(PlannerRules, EnergyKeepsEqualFractionAndFavoursFlatSpectra) {
  std::vector<Slot> slots = {{0, 0, false, 0, 1, 8}, {0, 0, true, 0, 1, 8}};
  // Slot 0: all energy in 2 dims; slot 1: flat. Equal-fraction rule gives slot 1 more rank.
  const std::vector<std::vector<double>> spectra = {{10, 10, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}};
  auto r = energy_ranks(slots, spectra, 8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0] + (*r)[1], 8);
  EXPECT_EQ((*r)[0], 2);
  EXPECT_EQ((*r)[1], 6);
  auto same = energy_ranks(slots, {{1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1}}, 8);
  EXPECT_EQ(*same, (std::vector<int>{4, 4}));
}

TEST(PlannerRules, FisherIsProportionalWithCaps) {
  std::vector<Slot> slots = {{0, 0, false, 0, 1, 64}, {0, 0, true, 0, 1, 64}, {1, 0, false, 0, 1, 64}};
  auto r = fisher_ranks(slots, {1.0, 3.0, 100.0}, 96, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[2], 64);  // capped at full, the excess re-shared 1:3
  EXPECT_EQ((*r)[0], 8);
  EXPECT_EQ((*r)[1], 24);
  EXPECT_FALSE(fisher_ranks(slots, {1.0, -1.0, 1.0}, 96, 1).ok());
}

TEST_F(PlannersTest, ProgressiveKeepsMoreInShallowLayers) {
  auto p = run_planner(inputs("progressive", "lorc", "joint", 0.5));
  ASSERT_TRUE(p.ok());
  const auto& first = p->layers.front().groups[0];
  const auto& last = p->layers.back().groups[0];
  EXPECT_GE(first.rank_k, last.rank_k);
  EXPECT_GE(first.rank_v, last.rank_v);
  EXPECT_GT(first.rank_k + first.rank_v, last.rank_k + last.rank_v);
}

// --latent-bits: the budget is bytes of the dense f16 cache; every planner's plan fits it with
// the packed codes and scales counted exactly, fills it to within one slot's increment, grows
// with the budget, is deterministic, and the plan JSON keeps the format.
TEST_F(PlannersTest, QuantizedLatentBudgetsAreExactBytes) {
  const LlamaConfig& c = model_.config;
  const double dense_bytes = 2.0 * c.n_layer * c.kv_dim() * 2.0;
  auto ranks_of = [](const RankPlan& p) {
    std::vector<int> r;
    for (const auto& l : p.layers) {
      for (const auto& g : l.groups) {
        r.push_back(g.rank_k);
        r.push_back(g.rank_v);
      }
    }
    return r;
  };
  for (const std::string planner : {"uniform", "progressive", "energy", "fisher"}) {
    int64_t prev = 0;
    for (double b : {0.2, 0.3, 0.45}) {
      PlannerInputs in = inputs(planner, "palu", "group:2", b);
      in.latent_bits = 4;
      in.latent_group = 8;
      auto p = run_planner(in);
      ASSERT_TRUE(p.ok()) << planner << " " << b << ": " << p.status().to_string();
      EXPECT_TRUE(p->validate(c, "plan").ok());
      const int64_t target = std::llround(b * dense_bytes);
      const int64_t bytes = quantized_latent_bytes(ranks_of(*p), 4, 8, false);
      EXPECT_LE(bytes, target) << planner << " " << b;
      EXPECT_GT(bytes, target - 16) << planner << " " << b;  // one 16-wide slot at 4 bits / 8 = 16 bytes
      EXPECT_GE(bytes, prev) << planner << " " << b;
      prev = bytes;
      auto again = run_planner(in);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(again->to_json(), p->to_json()) << planner << " is not deterministic";
      auto back = RankPlan::from_json(p->to_json(), "plan");
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(back->latent_bits, 4);
      EXPECT_EQ(back->latent_group, 8);
    }
  }
  PlannerInputs greedy = inputs("greedy-kl", "palu", "joint", 0.3);
  greedy.latent_bits = 4;
  EXPECT_FALSE(run_planner(greedy).ok());
  PlannerInputs tiny = inputs("uniform", "palu", "group:2", 0.01);  // 4 bytes: not even the scales
  tiny.latent_bits = 4;
  EXPECT_FALSE(run_planner(tiny).ok());
}

TEST_F(PlannersTest, BadRequestsAreErrors) {
  EXPECT_FALSE(run_planner(inputs("magic", "palu", "head", 0.5)).ok());
  EXPECT_FALSE(run_planner(inputs("energy", "palu", "head", 0.01)).ok());
  PlannerInputs in = inputs("fisher", "palu", "head", 0.5);
  in.fisher_importance.clear();
  EXPECT_FALSE(run_planner(in).ok());
  in = inputs("energy", "palu", "head", 0.5);
  in.calib = nullptr;
  EXPECT_FALSE(run_planner(in).ok());
}

}  // namespace
}  // namespace lrkv
