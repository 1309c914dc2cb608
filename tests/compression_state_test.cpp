// The typed compressed-model state (model/compression.h): read once at load, written once at
// save, in both file formats; the method table (compress/methods.h) drives compress and plan.
#include <gtest/gtest.h>

#include "compress/compressor.h"
#include "compress/methods.h"
#include "compress/planners/planners.h"
#include "compress/planners/slots.h"
#include "io/compression_metadata.h"
#include "io/model_io.h"
#include "latent_test_model.h"
#include "test_util.h"

namespace lrkv {
namespace {

Model compressed_test_model() {
  LlamaConfig cfg = test::tiny_config(2, 4, 2, 8);
  test::LatentModelOptions o;
  o.method = "palu";
  o.granularity = "head";
  o.budget = 0.5;
  return test::make_latent_test_model(cfg, o);
}

TEST(CompressionState, RoundTripsThroughGgufAndSafetensors) {
  Model m = compressed_test_model();
  ASSERT_TRUE(m.compressed());
  m.compression->hadamard = true;
  m.compression->latent_quant = LatentQuantParams{4, 16, true};
  m.compression->provenance["calibration"] = R"({"n_tokens":7})";
  m.extra_metadata["lrkv.note"] = "kept as is";
  for (const char* name : {"c.gguf", "c.safetensors"}) {
    const std::string path = test::temp_dir() + "/" + name;
    ASSERT_TRUE(save_model(m, path).ok()) << name;
    auto back = load_model(path);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    ASSERT_TRUE(back->compressed()) << name;
    EXPECT_EQ(back->compression->plan.to_json(), m.compression->plan.to_json()) << name;
    EXPECT_TRUE(back->compression->hadamard) << name;
    ASSERT_TRUE(back->compression->latent_quant.has_value()) << name;
    EXPECT_EQ(back->compression->latent_quant->bits, 4);
    EXPECT_EQ(back->compression->latent_quant->group, 16);
    EXPECT_TRUE(back->compression->latent_quant->symmetric);
    EXPECT_EQ(back->compression->provenance, m.compression->provenance) << name;
    EXPECT_EQ(back->extra_metadata, m.extra_metadata) << name;  // only the unknown key is left
    EXPECT_EQ(compression_metadata(*back), compression_metadata(m)) << name;
  }
}

TEST(CompressionState, EntriesWithoutAPlanAreRefusedByName) {
  Model m = compressed_test_model();
  m.compression.reset();
  m.extra_metadata["lrkv.hadamard"] = "1";  // a stray entry: not a compressed model
  m.source_path = "stray.gguf";
  const Status s = read_compression_metadata(m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("lrkv.hadamard"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("stray.gguf"), std::string::npos) << s.message();
}

TEST(CompressionState, APlanThatDoesNotFitTheModelIsRefusedAtLoad) {
  Model m = compressed_test_model();
  m.compression->plan.layers.pop_back();
  const std::string path = test::temp_dir() + "/short.gguf";
  ASSERT_TRUE(save_model(m, path).ok());
  auto back = load_model(path);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find(path), std::string::npos) << back.status().message();
}

TEST(MethodTable, EveryRowResolvesAndUnknownNamesListTheKnownOnes) {
  for (const MethodDesc& d : methods()) {
    auto f = find_method(d.name);
    ASSERT_TRUE(f.ok()) << d.name;
    EXPECT_EQ(*f, &d);
  }
  EXPECT_EQ((*find_method("palu"))->key_mode, KeyMode::kRebuild);
  EXPECT_EQ((*find_method("mkv-pca"))->key_mode, KeyMode::kAbsorbed);
  EXPECT_FALSE((*find_method("lorc"))->needs_calibration);
  auto bad = find_method("banana");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'banana'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("palu, lorc, mkv-pca"), std::string::npos) << bad.status().message();
  const LlamaConfig cfg = test::tiny_config(1, 8, 8, 8);
  EXPECT_EQ((*find_method("palu"))->default_granularity(cfg), "group:4");
  EXPECT_EQ((*find_method("lorc"))->default_granularity(cfg), "joint");
  EXPECT_EQ((*find_method("mkv-pca"))->default_granularity(cfg), "head");
}

// A plan whose key mode contradicts its method (the issue's "absorbed" palu plan) is refused.
TEST(MethodTable, CompressRefusesAKeyModeTheMethodDoesNotUse) {
  Model m = compressed_test_model();
  m.compression.reset();
  m.extra_tensors.clear();
  auto plan = uniform_plan(m.config, "lorc", "head", 0.5);
  ASSERT_TRUE(plan.ok());
  plan->key_mode = KeyMode::kAbsorbed;
  auto out = compress_model(m, *plan, nullptr);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("absorbed"), std::string::npos) << out.status().message();
  plan->key_mode = KeyMode::kRebuild;
  EXPECT_TRUE(compress_model(m, *plan, nullptr).ok());
}

// The fisher planner's default step gives every slot 32 steps: 2 for 64-wide heads, 8 for the
// 256-wide joint slots of lrkv-mha6 (where Palu's fixed 32 left 8 steps), 16 for 512-wide groups.
TEST(FisherPlanner, DefaultRoundingFollowsTheSlotWidths) {
  auto slots_of = [](int n_kv, int hd, int s) { return enumerate_slots(test::tiny_config(1, n_kv, n_kv, hd), s); };
  EXPECT_EQ(fisher_round_to(slots_of(4, 64, 1)), 2);
  EXPECT_EQ(fisher_round_to(slots_of(4, 64, 4)), 8);
  EXPECT_EQ(fisher_round_to(slots_of(8, 128, 4)), 16);
  EXPECT_EQ(fisher_round_to(slots_of(4, 8, 1)), 1);
}

}  // namespace
}  // namespace lrkv
