// `lrkv calibrate` / `lrkv compress` as a user runs them: the input model file is never modified,
// the output loads in every command, bad calibration / plan files and flags give one named error
// line with exit code 2.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/mmap_file.h"
#include "test_util.h"

namespace lrkv {
namespace {

namespace fs = std::filesystem;

class CompressCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir();
    model_ = dir_ + "/tiny.gguf";
    ASSERT_EQ(run("synth --preset tiny --dtype f32 -o " + model_), 0) << out_;
    text_ = dir_ + "/text.txt";
    std::ofstream t(text_);
    for (int i = 0; i < 60; ++i) t << "the cat sat on the mat and then it ran to the tree " << i << "\n\n";
  }
  int run(const std::string& args) { return test::run_command(test::cli_path() + " " + args, &out_); }
  void expect_one_line_error(const std::string& args, const std::string& fragment) {
    EXPECT_EQ(run(args), 2) << args << "\n" << out_;
    std::string last = out_.substr(out_.rfind("lrkv: error:") == std::string::npos ? 0 : out_.rfind("lrkv: error:"));
    EXPECT_NE(last.find("lrkv: error:"), std::string::npos) << out_;
    EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
    EXPECT_NE(last.find(fragment), std::string::npos) << last;
  }
  // (perplexity, KV bytes per token) from `lrkv perplexity MODEL FLAGS --json`.
  std::pair<double, double> ppl(const std::string& model, const std::string& flags = "") {
    const std::string json = dir_ + "/ppl.json";
    EXPECT_EQ(run("perplexity " + model + " --text " + text_ + " --ctx 64 --max-tokens 300 --kv-type f16 " + flags +
                  " --json " + json), 0) << out_;
    auto text = read_text_file(json);
    EXPECT_TRUE(text.ok()) << json;
    auto j = nlohmann::json::parse(text.ok() ? *text : std::string(), nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("ppl") && j.contains("kv_bytes_per_token")) << j.dump();
    if (!j.is_object()) return {-1, -1};
    return {j.value("ppl", -1.0), j.value("kv_bytes_per_token", -1.0)};
  }
  std::string dir_, model_, text_, out_;
};

// `compress --hadamard --latent-bits 4` = compress, then fold the rotation and quantise at load:
// the stored default is what every command uses, and --latent-bits 0 still gives float latents.
TEST_F(CompressCli, StoredLatentQuantisationIsTheDefault) {
  const std::string plain = dir_ + "/plain.gguf", quant = dir_ + "/quant.gguf";
  const std::string common = "compress " + model_ + " --method lorc --granularity head --budget 0.5 ";
  ASSERT_EQ(run(common + "-o " + plain), 0) << out_;
  ASSERT_EQ(run(common + "--hadamard --latent-bits 4 --latent-group 8 -o " + quant), 0) << out_;
  ASSERT_EQ(run("info " + quant), 0) << out_;
  EXPECT_NE(out_.find("lrkv.latent_quant"), std::string::npos) << out_;
  EXPECT_NE(out_.find("lrkv.hadamard"), std::string::npos) << out_;
  const auto stored = ppl(quant);
  EXPECT_NE(out_.find("stored by lrkv compress"), std::string::npos) << out_;
  const auto at_load = ppl(plain, "--hadamard --latent-bits 4 --latent-group 8");
  const auto floats = ppl(plain);
  const auto stored_floats = ppl(quant, "--latent-bits 0");
  // Same rotation (folded in f32 either way) and the same codec: the same numbers.
  EXPECT_NEAR(stored.first, at_load.first, 1e-6 * at_load.first);
  EXPECT_EQ(stored.second, at_load.second);
  // The rotation alone changes nothing but float rounding; 4-bit latents with an fp16 scale and
  // minimum per 8 values take 4 + 4 bytes per 8 values, half of f16's 16.
  EXPECT_NEAR(stored_floats.first, floats.first, 1e-4 * floats.first);
  EXPECT_EQ(stored_floats.second, floats.second);
  EXPECT_EQ(stored.second, 0.5 * floats.second);
  expect_one_line_error(common + "--latent-bits 5 -o " + dir_ + "/x.gguf", "--latent-bits");
  // A plan made for 4-bit latents: the budget is bytes (a quarter of the dense f16 cache), and the
  // compressed model carries the quantisation.
  const std::string plan = dir_ + "/q.json", planned = dir_ + "/planned.gguf";
  ASSERT_EQ(run("plan " + model_ + " --method lorc --granularity head --planner uniform --budget 0.25 "
                "--latent-bits 4 --latent-group 8 --show -o " + plan), 0) << out_;
  EXPECT_NE(out_.find("latents int4 asym g8"), std::string::npos) << out_;
  ASSERT_EQ(run("compress " + model_ + " --plan " + plan + " -o " + planned), 0) << out_;
  const auto dense = ppl(model_);
  const auto q = ppl(planned);
  EXPECT_LE(q.second, 0.25 * dense.second);
  EXPECT_GT(q.second, 0.25 * dense.second - 16);
}

TEST_F(CompressCli, CompressesWithoutTouchingTheInput) {
  const auto before = read_text_file(model_);
  const auto mtime = fs::last_write_time(model_);
  const std::string calib = dir_ + "/calib.safetensors";
  ASSERT_EQ(run("calibrate " + model_ + " --text " + text_ + " --split-paragraphs --tokens 2000 --ctx 64 -o " + calib), 0) << out_;
  for (const char* m : {"palu", "lorc", "mkv-pca"}) {
    const std::string out = dir_ + "/" + m + ".gguf";
    ASSERT_EQ(run(std::string("compress ") + model_ + " --method " + m + " --granularity group:2 --budget 0.5 --calib " +
                  calib + " -o " + out), 0) << out_;
    ASSERT_EQ(run("info " + out), 0) << out_;
    EXPECT_NE(out_.find("lrkv.plan"), std::string::npos) << out_;
    ASSERT_EQ(run("perplexity " + out + " --text " + text_ + " --ctx 64 --max-tokens 200"), 0) << out_;
    EXPECT_NE(out_.find("latent"), std::string::npos) << out_;
    ASSERT_EQ(run("generate " + out + " -p 'the cat' -n 5"), 0) << out_;
  }
  // Calibration from --text on the fly works too.
  ASSERT_EQ(run("compress " + model_ + " --method palu --granularity head --budget 0.25 --text " + text_ +
                " --tokens 1000 -o " + dir_ + "/p2.gguf"), 0) << out_;
  EXPECT_EQ(read_text_file(model_).value(), before.value());
  EXPECT_EQ(fs::last_write_time(model_), mtime);
}

TEST_F(CompressCli, BadInputsAreNamedErrors) {
  const std::string calib = dir_ + "/calib.safetensors";
  ASSERT_EQ(run("calibrate " + model_ + " --text " + text_ + " --tokens 500 --ctx 64 -o " + calib), 0) << out_;
  const std::string out = dir_ + "/out.gguf";
  // Truncated calibration file.
  const std::string cut = dir_ + "/cut.safetensors";
  ASSERT_TRUE(write_file_atomic(cut, read_text_file(calib)->substr(0, 300)).ok());
  expect_one_line_error("compress " + model_ + " --method palu --calib " + cut + " -o " + out, "cut.safetensors");
  // A model file given as calibration.
  expect_one_line_error("compress " + model_ + " --method palu --calib " + model_ + " -o " + out, "tiny.gguf");
  // Corrupt and inconsistent plans.
  const std::string plan = dir_ + "/plan.json";
  ASSERT_TRUE(write_file_atomic(plan, "{\"method\": \"palu\", \"granularity\": \"head\"").ok());
  expect_one_line_error("compress " + model_ + " --plan " + plan + " --calib " + calib + " -o " + out, "plan.json");
  ASSERT_TRUE(write_file_atomic(plan, R"({"method":"lorc","granularity":"head","budget":0.5,"key_mode":"rebuild",
      "layers":[{"groups":[{"kv_head_begin":0,"n_kv_heads":2,"rank_k":4,"rank_v":4}]}]})").ok());
  expect_one_line_error("compress " + model_ + " --plan " + plan + " -o " + out, "plan.json");
  // Flags.
  expect_one_line_error("compress " + model_ + " --method svd -o " + out, "svd");
  expect_one_line_error("compress " + model_ + " --method lorc --granularity group:3 -o " + out, "group:3");
  expect_one_line_error("compress " + model_ + " --method lorc --budget 0 -o " + out, "--budget");
  expect_one_line_error("compress " + model_ + " --method palu -o " + out, "--calib");
  expect_one_line_error("compress " + model_ + " --method lorc -o " + model_, "input");
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace lrkv
