// Logits of the real models in ../shared/models against golden logits from an independent fp64
// implementation: max abs error < 1e-3 of the reference logit range, in fp32. The "story" case
// also fixes the tokenizer's ids.
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/mmap_file.h"
#include "io/model_io.h"
#include "model/cpu_engine.h"
#include "test_util.h"

namespace lrkv {
namespace {

struct GoldenCase {
  std::string name;
  std::vector<int> tokens;
  std::vector<float> logits;  // [n, vocab]
};

struct Golden {
  std::string model_file;
  std::string story_text;
  std::vector<GoldenCase> cases;
};

Golden read_golden(const std::string& dir) {
  Golden g;
  auto text = read_text_file(dir + "/reference/reference.json");
  EXPECT_TRUE(text.ok()) << text.status().to_string();
  auto j = nlohmann::json::parse(text.value());
  g.model_file = dir + "/" + j["model"].get<std::string>();
  g.story_text = j.value("story_text", "");
  for (const auto& c : j["cases"]) {
    GoldenCase gc;
    gc.name = c["name"];
    gc.tokens = c["tokens"].get<std::vector<int>>();
    const auto shape = c["shape"].get<std::vector<int64_t>>();
    gc.logits.resize(shape[0] * shape[1]);
    std::ifstream in(dir + "/reference/" + c["logits_file"].get<std::string>(), std::ios::binary);
    in.read(reinterpret_cast<char*>(gc.logits.data()), gc.logits.size() * 4);
    EXPECT_TRUE(in.good()) << "short golden logits file for " << gc.name;
    g.cases.push_back(std::move(gc));
  }
  return g;
}

// Checks every case of one model; returns the worst relative error seen.
void check_model(const Model& model, const Golden& g) {
  CpuEngine engine(model);
  for (const GoldenCase& c : g.cases) {
    auto cache = engine.make_dense_cache(1, static_cast<int>(c.tokens.size()));
    ASSERT_TRUE(cache.ok());
    std::vector<float> logits;
    Status s = engine.forward({{0, c.tokens.data(), static_cast<int>(c.tokens.size())}}, **cache,
                              LogitsMode::kAll, &logits);
    ASSERT_TRUE(s.ok()) << s.to_string();
    ASSERT_EQ(logits.size(), c.logits.size());
    const auto [lo, hi] = std::minmax_element(c.logits.begin(), c.logits.end());
    const double range = *hi - *lo;
    const test::MaxDiff d = test::max_abs_diff(logits, c.logits);
    const int64_t V = model.config.n_vocab;
    EXPECT_LT(d.value, 1e-3 * range)
        << g.model_file << " case " << c.name << ": worst |diff| " << d.value << " at position "
        << d.index / V << " token " << d.index % V << " (got " << logits[d.index] << ", want "
        << c.logits[d.index] << "), logit range " << range;
    ::testing::Test::RecordProperty(c.name + "_max_abs_err", fmt::format("{:.3e}", d.value));
    ::testing::Test::RecordProperty(c.name + "_rel_to_range", fmt::format("{:.3e}", d.value / range));
  }
}

class GoldenLogits : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenLogits, MatchesFp64Reference) {
  const std::string rel = "models/" + GetParam() + "/reference/reference.json";
  LRKV_REQUIRE_SHARED(rel);
  const Golden g = read_golden(test::shared_path("models/" + GetParam()));
  auto model = load_model(g.model_file);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  check_model(*model, g);
}

TEST_P(GoldenLogits, TokenizerReproducesStoryIds) {
  const std::string rel = "models/" + GetParam() + "/reference/reference.json";
  LRKV_REQUIRE_SHARED(rel);
  const Golden g = read_golden(test::shared_path("models/" + GetParam()));
  auto model = load_model(g.model_file);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ASSERT_NE(model->tokenizer, nullptr);
  ASSERT_FALSE(g.story_text.empty());
  const GoldenCase& story = g.cases[0];
  ASSERT_EQ(story.name, "story");
  EXPECT_EQ(model->tokenizer->encode(g.story_text, /*add_bos=*/true), story.tokens);
  std::vector<int> no_bos(story.tokens.begin() + 1, story.tokens.end());
  EXPECT_EQ(model->tokenizer->decode(no_bos), g.story_text);
}

INSTANTIATE_TEST_SUITE_P(SharedModels, GoldenLogits, ::testing::Values("stories260K", "lrkv-mha6"));

}  // namespace
}  // namespace lrkv
