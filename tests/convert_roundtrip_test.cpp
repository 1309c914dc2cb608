// Every real model in ../shared/models converted with `lrkv convert` to GGUF and to safetensors
// and loaded back gives the same logits: bit-identical through GGUF (same RoPE layout), within
// fp32 rounding through safetensors (Q/K rows are permuted to HF's half-split layout, which
// reorders the sums inside each head's dot products).
#include <algorithm>

#include "model/engine.h"
#include "io/model_io.h"
#include "test_util.h"

namespace lrkv {
namespace {

using test::logits_of;

class ConvertRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvertRoundTrip, GgufAndSafetensorsGiveTheSameLogits) {
  LRKV_REQUIRE_SHARED("models/" + GetParam());
  const std::string src = test::shared_path("models/" + GetParam());
  auto original = load_model(src);
  ASSERT_TRUE(original.ok()) << original.status().to_string();
  const std::string text = "Once upon a time, there was a little dog. It liked 3 red balls!\nThe end.";
  const std::vector<int> tokens = original->tokenizer->encode(text, true);
  const std::vector<float> want = logits_of(*original, tokens);
  const auto [lo, hi] = std::minmax_element(want.begin(), want.end());
  for (const std::string ext : {".gguf", ".safetensors"}) {
    const std::string out = test::temp_dir() + "/model" + ext;
    std::string log;
    ASSERT_EQ(test::run_command(test::cli_path() + " convert '" + src + "' -o '" + out + "'", &log), 0) << log;
    auto back = load_model(out);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->tokenizer->encode(text, true), tokens) << ext;
    EXPECT_EQ(back->tokenizer->decode(tokens), text) << ext;
    const std::vector<float> got = logits_of(*back, tokens);
    const test::MaxDiff d = test::max_abs_diff(got, want);
    if (ext == std::string(".gguf")) {
      EXPECT_EQ(d.value, 0.0) << "GGUF round trip is not bit-identical";
    } else {
      EXPECT_LT(d.value, 1e-6 * (*hi - *lo)) << ext;
    }
    ::testing::Test::RecordProperty(GetParam() + ext + "_max_abs_diff", fmt::format("{:.3e}", d.value));
  }
}

INSTANTIATE_TEST_SUITE_P(SharedModels, ConvertRoundTrip,
                         ::testing::Values("stories260K/stories260K.bin", "lrkv-mha6/model.bin"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('/')) == "stories260K" ? std::string("stories260K") : std::string("lrkv_mha6"); });

}  // namespace
}  // namespace lrkv
