// Issue 17: a rank plan is read strictly. Each case is the minimised input that used to become a
// result (a palu plan with absorbed keys compressed into a model with ppl 348; budget -1, 1e308 and
// planner "bogus" were stored; rank_k 4294967304 became 8 and 3.7 became 3) or undefined behaviour
// (signed overflow of n_kv_heads * head_dim in validate(); 1e308 converted to int).
#include <nlohmann/json.hpp>

#include "model/rank_plan.h"
#include "test_util.h"

namespace lrkv {
namespace {

// A valid one-layer palu plan for tiny_config(1) (2 KV heads x head_dim 6), edited by the tests.
nlohmann::json valid_plan() {
  return nlohmann::json::parse(R"({"method": "palu", "granularity": "head", "planner": "uniform",
      "budget": 0.5, "key_mode": "rebuild", "layers": [{"groups": [
      {"kv_head_begin": 0, "n_kv_heads": 1, "rank_k": 3, "rank_v": 3},
      {"kv_head_begin": 1, "n_kv_heads": 1, "rank_k": 3, "rank_v": 3}]}]})");
}

// Parses `j` (its text, as a plan file is read) and validates it for tiny_config(1); expects a
// one-line error naming the source and containing `needle`.
void expect_refused(const nlohmann::json& j, const std::string& needle) {
  const LlamaConfig cfg = test::tiny_config(1);
  auto p = RankPlan::parse(j.dump(), "plan.json");
  const Status s = p.ok() ? p->validate(cfg, "plan.json") : p.status();
  ASSERT_FALSE(s.ok()) << "accepted: " << j.dump();
  EXPECT_NE(s.to_string().find("plan.json"), std::string::npos) << s.to_string();
  EXPECT_NE(s.to_string().find(needle), std::string::npos) << s.to_string();
  EXPECT_EQ(s.to_string().find('\n'), std::string::npos) << s.to_string();
}

TEST(RankPlanStrict, ValidPlanLoads) {
  auto p = RankPlan::parse(valid_plan().dump(), "plan.json");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_TRUE(p->validate(test::tiny_config(1), "plan.json").ok());
  EXPECT_EQ(p->layers[0].groups[1].rank_k, 3);
}

TEST(RankPlanStrict, KeyModeMustBeTheMethods) {
  nlohmann::json j = valid_plan();
  j["key_mode"] = "absorbed";
  expect_refused(j, "key_mode 'absorbed'");
  j = valid_plan();
  j["method"] = "mkv-pca";  // rebuild keys for an absorbed method
  expect_refused(j, "key_mode 'rebuild'");
}

TEST(RankPlanStrict, BudgetAndPlannerAreChecked) {
  for (const char* b : {"-1", "0", "1e308", "1.5", "\"half\""}) {
    nlohmann::json j = valid_plan();
    j["budget"] = nlohmann::json::parse(b);
    expect_refused(j, "budget");
  }
  nlohmann::json j = valid_plan();
  j["planner"] = "bogus";
  expect_refused(j, "planner 'bogus'");
  j = valid_plan();
  j["granularity"] = "group:x";
  expect_refused(j, "granularity 'group:x'");
  j = valid_plan();
  j["granularity"] = "joint";  // the groups are per head: they do not match
  expect_refused(j, "groups must tile");
}

TEST(RankPlanStrict, RanksAreIntegersInRangeWithoutWrapOrTruncation) {
  for (const char* r : {"4294967304", "3.7", "1e308", "-2147483648", "0", "7", "\"3\"", "18446744073709551615"}) {
    nlohmann::json j = valid_plan();
    j["layers"][0]["groups"][1]["rank_k"] = nlohmann::json::parse(r);
    expect_refused(j, "rank");
  }
}

// UBSan: n_kv_heads * head_dim overflowed int in validate() ("outside [1, 0]").
TEST(RankPlanStrict, HugeHeadCountsDoNotOverflow) {
  nlohmann::json j = valid_plan();
  j["layers"][0]["groups"][0]["n_kv_heads"] = 2147483647;
  expect_refused(j, "n_kv_heads");
  RankPlan p = *RankPlan::parse(valid_plan().dump(), "plan.json");
  p.layers[0].groups[0].n_kv_heads = 1 << 30;  // built in memory, not parsed
  const Status s = p.validate(test::tiny_config(1), "plan.json");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.to_string().find("groups must tile"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace lrkv
