// Issue 17, data loss: every command that writes checks its output paths before any work — an
// input (also through a symlink or hard link) is never overwritten, a missing directory or a wrong
// extension fails first, a .safetensors output does not silently replace config.json beside it,
// and a failed eval leaves no empty report directory.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/mmap_file.h"
#include "test_util.h"

namespace lrkv {
namespace {
namespace fs = std::filesystem;

class CliOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir();
    model_ = dir_ + "/m.gguf";
    ASSERT_EQ(run("synth --preset tiny --dtype f32 -o " + model_), 0) << out_;
    text_ = dir_ + "/text.txt";
    std::ofstream t(text_);
    for (int i = 0; i < 40; ++i) t << "the cat sat on the mat and then it ran to the tree " << i << "\n\n";
    t.close();
    auto bytes = read_text_file(model_);
    ASSERT_TRUE(bytes.ok());
    model_bytes_ = *bytes;
  }
  int run(const std::string& args) { return test::run_command(test::cli_path() + " " + args, &out_); }
  // Exit 2 with one "lrkv: error:" line containing `fragment`.
  void expect_error(const std::string& args, const std::string& fragment) {
    EXPECT_EQ(run(args), 2) << args << "\n" << out_;
    const size_t at = out_.rfind("lrkv: error:");
    ASSERT_NE(at, std::string::npos) << args << "\n" << out_;
    const std::string last = out_.substr(at);
    EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
    EXPECT_NE(last.find(fragment), std::string::npos) << args << "\n" << last;
  }
  void expect_model_intact() {
    auto now = read_text_file(model_);
    ASSERT_TRUE(now.ok());
    EXPECT_TRUE(*now == model_bytes_) << "the input model changed";
    for (const auto& e : fs::directory_iterator(dir_)) {
      EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
    }
  }
  std::string dir_, model_, text_, out_, model_bytes_;
};

TEST_F(CliOutputs, NoCommandOverwritesItsInput) {
  const std::string sym_json = dir_ + "/sym.json", hard_st = dir_ + "/hard.safetensors";
  const std::string sym_lgp = dir_ + "/sym.lgp", sym_gguf = dir_ + "/sym.gguf";
  fs::create_symlink(model_, sym_json);
  fs::create_symlink(model_, sym_lgp);
  fs::create_symlink(model_, sym_gguf);
  fs::create_hard_link(model_, hard_st);
  const std::string m = model_, t = " --text " + text_;
  const std::string calib = " --tokens 300 --ctx 64";
  for (const std::string& cmd : {
           "calibrate " + m + t + calib + " -o " + hard_st,
           "plan " + m + " --planner uniform --method lorc --budget 0.5 -o " + sym_json,
           "perplexity " + m + t + " --ctx 32 --max-tokens 20 --json " + sym_json,
           "perplexity " + m + t + " --ctx 32 --max-tokens 20 --save-logits " + sym_lgp,
           "compress " + m + " --method lorc --budget 0.5 -o " + sym_gguf,
           "convert " + m + " -o " + m,
           "convert-gqa " + m + " --groups 2" + t + " -o " + sym_gguf,
           "tune " + m + " --method mkv" + t + " --steps 1 -o " + sym_gguf,
           "synth --preset tiny -o " + hard_st,  // overwriting a file is fine when it is no input
       }) {
    if (cmd.rfind("synth", 0) == 0) continue;
    expect_error(cmd, "input");
    expect_model_intact();
  }
  // plan's --png and perplexity --json may not name the text either.
  expect_error("plan " + m + " --planner uniform --method lorc --budget 0.5 -o " + dir_ + "/p.json --png " +
                   dir_ + "/p.json", "--png");
  expect_error("perplexity " + m + t + " --json " + text_, ".json");
}

TEST_F(CliOutputs, PathsAreCheckedBeforeTheWork) {
  const std::string plan = dir_ + "/plan.json";
  expect_error("plan " + model_ + " --planner uniform --method lorc --budget 0.5 -o " + plan + " --png " + dir_ +
                   "/missing/x.png", "missing");
  EXPECT_FALSE(fs::exists(plan)) << "the plan was written although --png could not be";
  expect_error("calibrate " + model_ + " --text " + text_ + " --tokens 300 --ctx 64 -o " + dir_ + "/c.gguf",
               ".safetensors");
  EXPECT_FALSE(fs::exists(dir_ + "/c.gguf"));
  expect_error("perplexity " + model_ + " --text " + text_ + " --json " + dir_ + "/missing/r.json", "does not exist");
  expect_error("bench " + model_ + " -n 1 -r 1 --ctx 8 -o " + dir_ + "/missing/b.md", "does not exist");
  // A failed eval (its --text is a directory) leaves no report directory behind.
  const std::string report = dir_ + "/report";
  expect_error("eval " + model_ + " --text " + dir_ + " --methods lorc --no-passkey -o " + report, "directory");
  EXPECT_FALSE(fs::exists(report));
}

TEST_F(CliOutputs, SafetensorsOutputKeepsExistingConfigUnlessForced) {
  const std::string out = dir_ + "/x.safetensors", config = dir_ + "/config.json";
  std::ofstream(config) << "{\"mine\": true}";
  expect_error("convert " + model_ + " -o " + out, "config.json");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(*read_text_file(config), "{\"mine\": true}");
  ASSERT_EQ(run("convert " + model_ + " -o " + out + " --force"), 0) << out_;
  EXPECT_NE(read_text_file(config)->find("max_position_embeddings"), std::string::npos);
  // A safetensors input's own config.json is an input: refused even with --force.
  expect_error("convert " + out + " -o " + dir_ + "/y.safetensors --force", "input");
}

TEST_F(CliOutputs, BenchWritesTheTableWithDashO) {
  const std::string md = dir_ + "/b.md", js = dir_ + "/b.json";
  ASSERT_EQ(run("bench " + model_ + " --ctx 8 -n 1 -r 1 -o " + md), 0) << out_;
  EXPECT_NE(read_text_file(md)->find("| pp8 |"), std::string::npos);
  ASSERT_EQ(run("bench " + model_ + " --ctx 8 -n 1 -r 1 -o " + js), 0) << out_;
  EXPECT_NE(read_text_file(js)->find("\"decode_tps\""), std::string::npos);
  ASSERT_EQ(run("bench " + model_ + " --ctx 8 -n 1 -r 1 -o json"), 0) << out_;  // the old spelling
  EXPECT_NE(out_.find("\"decode_tps\""), std::string::npos);
  expect_error("bench " + model_ + " --format xml", "--format 'xml'");
}

}  // namespace
}  // namespace lrkv
