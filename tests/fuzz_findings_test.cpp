// One test per fuzzing finding (fuzz/, scripts/fuzz.sh), each built from the minimised input:
// the input must now be refused with a one-line error (it used to trip ASan/UBSan or allocate
// without bound).
#include "model/rank_plan.h"
#include "test_util.h"

namespace lrkv {
namespace {

// fuzz_rank_plan, UBSan: "3.11111e+83 is outside the range of representable values of type
// 'int'" in RankPlan::from_json (nlohmann get<int>() on a float). Minimised: a rank of 1e83.
TEST(FuzzFindings, RankPlanFloatRankOutOfIntRange) {
  const std::string text =
      R"({"method":"palu","granularity":"head","budget":0.5,"key_mode":"rebuild",)"
      R"("layers":[{"groups":[{"kv_head_begin":0,"n_kv_heads":1,"rank_k":3,"rank_v":3e83}]}]})";
  auto p = RankPlan::parse(text, "plan.json");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kCorruptFile);
  EXPECT_NE(p.status().message().find("rank_v 3e+83 must be an integer"), std::string::npos)
      << p.status().message();
  // Same path through the optional latent fields; an integral float is still accepted.
  auto q = RankPlan::parse(R"({"method":"palu","granularity":"head","budget":0.5,)"
                           R"("key_mode":"rebuild","latent_bits":-1e300,"layers":[]})",
                           "plan.json");
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("latent_bits -1e+300 must be an integer"), std::string::npos)
      << q.status().message();
  // The strict reader (issue 17) takes integers only: 4.0 is a float, refused by name too.
  auto r = RankPlan::parse(R"({"method":"palu","granularity":"head","budget":0.5,)"
                           R"("key_mode":"rebuild","latent_bits":4.0,"layers":[]})",
                           "plan.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("latent_bits"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace lrkv
