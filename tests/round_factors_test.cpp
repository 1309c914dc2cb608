// round_factors (model/latent_layer.h): the factors an engine multiplies as weight matrices take
// the values of a 16-bit type, everything else keeps its f32 values, and a value the type cannot
// hold is an error that leaves the layers as they were. The reference is the scalar conversion
// (round to nearest even, kernels/elem.h) applied element by element.
#include <cmath>

#include "kernels/elem.h"
#include "latent_test_model.h"
#include "model/cpu_engine.h"

namespace lrkv {
namespace {

// Each element of `got` is `want`'s element converted to `type` and back.
void expect_rounded(const Tensor& got, const Tensor& want, DType type, const char* what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  int changed = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const float w = want.f32()[i];
    const float r = type == DType::kBF16 ? bf16_to_f32(f32_to_bf16(w)) : f16_to_f32(f32_to_f16(w));
    ASSERT_EQ(got.f32()[i], r) << what << " element " << i;
    changed += got.f32()[i] != w;
  }
  EXPECT_GT(changed, 0) << what << ": random f32 values should not all be 16-bit values already";
}

void expect_same(const Tensor& got, const Tensor& want, const char* what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  for (int64_t i = 0; i < want.numel(); ++i) ASSERT_EQ(got.f32()[i], want.f32()[i]) << what << " element " << i;
}

TEST(RoundFactors, WeightMatricesTakeTheTypesValuesOthersStay) {
  for (const char* method : {"palu", "mkv-pca"}) {
    test::LatentModelOptions o;
    o.method = method;
    const Model m = test::make_latent_test_model(test::tiny_config(2, 4, 2, 8), o);
    auto plan = model_rank_plan(m);
    ASSERT_TRUE(plan.ok());
    for (DType type : {DType::kBF16, DType::kF16}) {
      auto before = build_latent_layers(m, *plan);
      auto after = build_latent_layers(m, *plan);
      ASSERT_TRUE(before.ok() && after.ok());
      ASSERT_TRUE(round_factors(*after, type).ok());
      for (size_t l = 0; l < before->size(); ++l) {
        const LatentLayer &b = (*before)[l], &a = (*after)[l];
        if (!b.k_down.empty()) expect_rounded(a.k_down, b.k_down, type, "k_down");
        expect_rounded(a.v_down, b.v_down, type, "v_down");
        expect_rounded(a.wo_folded, b.wo_folded, type, "wo_folded");
        for (size_t g = 0; g < b.k_proj.size(); ++g) expect_rounded(a.k_proj[g], b.k_proj[g], type, "k_proj");
        for (size_t g = 0; g < b.k_proj_t.size(); ++g) expect_rounded(a.k_proj_t[g], b.k_proj_t[g], type, "k_proj_t");
        for (size_t g = 0; g < b.k_up.size(); ++g) expect_same(a.k_up[g], b.k_up[g], "k_up");
        for (const auto& [x, y, what] : {std::tuple{&a.k_down_bias, &b.k_down_bias, "k_down_bias"},
                                         {&a.k_mean, &b.k_mean, "k_mean"}, {&a.v_down_bias, &b.v_down_bias, "v_down_bias"},
                                         {&a.o_bias, &b.o_bias, "o_bias"}}) {
          if (!y->empty()) expect_same(*x, *y, what);
        }
      }
    }
  }
}

TEST(RoundFactors, F32LeavesEverything) {
  const Model m = test::make_latent_test_model(test::tiny_config(2, 4, 2, 8), {});
  auto plan = model_rank_plan(m);
  auto before = build_latent_layers(m, *plan), after = build_latent_layers(m, *plan);
  ASSERT_TRUE(before.ok() && after.ok());
  ASSERT_TRUE(round_factors(*after, DType::kF32).ok());
  expect_same((*after)[1].v_down, (*before)[1].v_down, "v_down");
  expect_same((*after)[1].wo_folded, (*before)[1].wo_folded, "wo_folded");
}

// A factor past f16's range (65504) is named, nothing is rounded, and a CpuEngine asked for f16
// factors reports it instead of running.
TEST(RoundFactors, OutOfRangeIsAnErrorAndChangesNothing) {
  test::LatentModelOptions o;
  o.method = "mkv-pca";
  Model m = test::make_latent_test_model(test::tiny_config(2, 4, 2, 8), o);
  m.extra_tensors[factor_name(1, "v_down")].f32()[3] = 1e6f;
  auto plan = model_rank_plan(m);
  auto before = build_latent_layers(m, *plan), after = build_latent_layers(m, *plan);
  ASSERT_TRUE(before.ok() && after.ok());
  const Status s = round_factors(*after, DType::kF16);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("layer 1 factor v_down"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("f16"), std::string::npos) << s.message();
  expect_same((*after)[0].v_down, (*before)[0].v_down, "layer 0 v_down");
  expect_same((*after)[0].wo_folded, (*before)[0].wo_folded, "layer 0 wo_folded");
  ASSERT_TRUE(round_factors(*after, DType::kBF16).ok());  // bf16 has f32's range
  CpuEngine f16(m, DType::kF16);
  EXPECT_FALSE(f16.status().ok());
  CpuEngine bf16(m, DType::kBF16);
  EXPECT_TRUE(bf16.status().ok()) << bf16.status().to_string();
}

}  // namespace
}  // namespace lrkv
