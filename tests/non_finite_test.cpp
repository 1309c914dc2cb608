// Non-finite activations and moments are errors, never a "nan" result: the engine names the
// first layer whose output overflows; calibration moments with a NaN/Inf are refused by name
// (compressor, calibration file); perplexity, generate and calibrate exit 2 on such a model.
#include <cmath>
#include <fstream>

#include "model/methods.h"
#include "io/model_io.h"
#include "model/cpu_engine.h"
#include "compress/calibration.h"
#include "compress/compressor.h"
#include "model/engine.h"
#include "model/rank_plan.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

std::vector<int> tokens_of(int n, int vocab) {
  std::vector<int> t(n);
  for (int i = 0; i < n; ++i) t[i] = 3 + (i * 37) % (vocab - 3);
  return t;
}

Model tiny_model() {
  auto m = make_random_model(test::tiny_config(3), 5);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return std::move(m).value();
}

// Layer 1's FFN RMSNorm weight at 1e30: its gate/up products (~1e60) overflow f32 although every
// weight is finite.
Model overflowing_model() {
  Model m = tiny_model();
  Tensor& g = m.weights.layers[1].ffn_norm;
  for (int64_t i = 0; i < g.numel(); ++i) g.f32()[i] = 1e30f;
  return m;
}

TEST(NonFinite, EngineNamesTheFirstOverflowingLayer) {
  Model m = overflowing_model();
  CpuEngine engine(m);
  auto cache = engine.make_cache(1, 16);
  ASSERT_TRUE(cache.ok());
  const std::vector<int> t = tokens_of(8, m.config.n_vocab);
  std::vector<float> logits;
  const Status s = engine.forward({{0, t.data(), 8}}, **cache, LogitsMode::kAll, &logits);
  ASSERT_FALSE(s.ok()) << "forward of an overflowing model succeeded";
  EXPECT_NE(s.message().find("non-finite"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("in layer 1 "), std::string::npos) << s.message();
  EXPECT_EQ((*cache)->length(0), 0) << "a failed forward must not commit its tokens";
}

TEST(NonFinite, EngineNamesNanEmbeddingRow) {
  Model m = tiny_model();
  const std::vector<int> t = tokens_of(4, m.config.n_vocab);
  m.weights.tok_embd.f32()[int64_t{t[2]} * m.config.d_model + 1] = std::nanf("");
  CpuEngine engine(m);
  auto cache = engine.make_cache(1, 16);
  ASSERT_TRUE(cache.ok());
  const Status s = engine.forward({{0, t.data(), 4}}, **cache, LogitsMode::kLast, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("the token embeddings (row 2 of 4, column 1)"), std::string::npos)
      << s.message();
}

CalibrationStats calibrate(const Model& m) {
  CpuEngine engine(m);
  CalibrationOptions o;
  o.ctx = 16;
  o.progress = false;
  auto s = run_calibration(engine, tokens_of(64, m.config.n_vocab), o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(s).value();
}

TEST(NonFinite, CompressorRefusesNonFiniteMomentsByName) {
  const Model m = tiny_model();
  CalibrationStats calib = calibrate(m);
  calib.layers[2].k_post.sxx.a[5] = INFINITY;
  for (const char* method : {"palu", "mkv-pca"}) {
    auto plan = uniform_plan(m.config, method, "head", 0.5);
    ASSERT_TRUE(plan.ok());
    auto r = compress_model(m, *plan, &calib);
    ASSERT_FALSE(r.ok()) << method;
    EXPECT_NE(r.status().message().find("'blk.2.k_post.sxx'"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("(inf) at index 5"), std::string::npos) << r.status().message();
  }
  calib.layers[2].k_post.sxx.a[5] = 0.0;
  calib.layers[0].k_freq[3] = {0.0, std::nan("")};
  const Status s = check_calibration_finite(calib, "c");
  EXPECT_NE(s.message().find("'blk.0.k_freq.im' has a non-finite value (nan) at index 3"), std::string::npos)
      << s.message();
}

TEST(NonFinite, CalibrationFileWithNanIsRefusedNamingTensorAndIndex) {
  const Model m = tiny_model();
  CalibrationStats calib = calibrate(m);
  calib.layers[1].xtx.a[17] = std::nan("");
  const std::string path = test::temp_dir() + "/nan_calib.safetensors";
  // Issue 17 made the writer refuse non-finite statistics too (calibrate never writes them), so
  // the same check answers when saving; nothing is written.
  const Status r = save_calibration(calib, path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("'blk.1.xtx' has a non-finite value (nan) at element 17"), std::string::npos)
      << r.message();
  EXPECT_FALSE(std::filesystem::exists(path));
}

class NonFiniteCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir();
    model_ = dir_ + "/overflow.gguf";
    ASSERT_TRUE(save_model(overflowing_model(), model_).ok());
    text_ = dir_ + "/text.txt";
    std::ofstream(text_) << "Once upon a time there was a small model that overflowed.\n";
  }
  // Exit code of `lrkv ARGS`; the output must be one error line naming layer 1, no "nan" result.
  void expect_layer_error(const std::string& args) {
    std::string out;
    const int rc = test::run_command(test::cli_path() + " " + args, &out);
    EXPECT_EQ(rc, 2) << args << "\n" << out;
    EXPECT_NE(out.find("lrkv: error: "), std::string::npos) << out;
    EXPECT_NE(out.find("non-finite"), std::string::npos) << out;
    EXPECT_NE(out.find("in layer 1 "), std::string::npos) << out;
    EXPECT_EQ(out.find("ppl nan"), std::string::npos) << out;
  }
  std::string dir_, model_, text_;
};

TEST_F(NonFiniteCli, PerplexityGenerateCalibrateExit2) {
  expect_layer_error("perplexity " + model_ + " --text " + text_ + " --ctx 8 --stride 4");
  expect_layer_error("generate " + model_ + " -p Once -n 4");
  expect_layer_error("calibrate " + model_ + " --text " + text_ + " --tokens 32 -o " + dir_ +
                     "/c.safetensors");
}

}  // namespace
}  // namespace lrkv
