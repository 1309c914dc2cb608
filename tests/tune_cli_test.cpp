// `lrkv tune` and `lrkv convert-gqa` as a user runs them on a tiny synthetic model: the tuned
// full-rank model truncates with `lrkv compress --budget`, checkpoints resume, the converted GQA
// model is a standard model whose GGUF and safetensors exports give the same perplexity, and
// bad flags are one-line errors with exit code 2.
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/mmap_file.h"
#include "test_util.h"

namespace lrkv {
namespace {

class TuneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir();
    model_ = dir_ + "/tiny.gguf";
    ASSERT_EQ(run("synth --preset tiny --dtype f32 -o " + model_), 0) << out_;
    text_ = dir_ + "/text.txt";
    std::ofstream t(text_);
    for (int i = 0; i < 60; ++i)
      t << "the cat sat on the mat and then it ran to the tree " << i << "\n\n";
  }
  int run(const std::string& args) {
    return test::run_command(test::cli_path() + " " + args, &out_);
  }
  void expect_one_line_error(const std::string& args, const std::string& fragment) {
    EXPECT_EQ(run(args), 2) << args << "\n" << out_;
    const size_t at = out_.rfind("lrkv: error:");
    ASSERT_NE(at, std::string::npos) << out_;
    const std::string last = out_.substr(at);
    EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
    EXPECT_NE(last.find(fragment), std::string::npos) << last;
  }
  // The perplexity value printed by `lrkv perplexity ... --json`.
  double ppl(const std::string& model) {
    const std::string json = dir_ + "/ppl.json";
    EXPECT_EQ(run("perplexity " + model + " --text " + text_ +
                  " --split-paragraphs --ctx 64 --max-tokens 300 --json " + json),
              0)
        << out_;
    auto j = nlohmann::json::parse(read_text_file(json).value(), nullptr, false);
    EXPECT_TRUE(j.contains("ppl")) << j.dump();
    return j.value("ppl", -1.0);
  }
  std::string dir_, model_, text_, out_;
};

TEST_F(TuneCli, TunedModelTruncatesAndResumes) {
  const std::string out = dir_ + "/mkv.gguf", ckpt = dir_ + "/ckpt.safetensors";
  const std::string base = "tune " + model_ + " --method mkv --text " + text_ +
                           " --split-paragraphs --batch 2 --ctx 32 --tokens 1000 --checkpoint " +
                           ckpt;
  ASSERT_EQ(run(base + " --steps 3 -o " + out), 0) << out_;
  ASSERT_EQ(run(base + " --steps 5 --resume -o " + out), 0) << out_;
  EXPECT_NE(out_.find("resumed"), std::string::npos) << out_;
  ASSERT_EQ(run("info " + out), 0) << out_;
  EXPECT_NE(out_.find("mkv"), std::string::npos) << out_;
  const std::string half = dir_ + "/half.gguf";
  ASSERT_EQ(run("compress " + out + " --budget 0.5 -o " + half), 0) << out_;
  EXPECT_GT(ppl(half), 1.0);
  expect_one_line_error("compress " + out + " --method palu --budget 0.5 -o " + half,
                        "already compressed");
  // The greedy-KL planner searches over the tuned factors; compress --plan applies its plan.
  const std::string plan = dir_ + "/plan.json", planned = dir_ + "/planned.gguf";
  ASSERT_EQ(run("plan " + out +
                " --method mkv --granularity head --planner greedy-kl --budget 0.375 --text " +
                text_ + " --held-ctx 32 --held-windows 2 -o " + plan),
            0)
      << out_;
  ASSERT_EQ(run("compress " + out + " --plan " + plan + " -o " + planned), 0) << out_;
  EXPECT_GT(ppl(planned), 1.0);
  // Without --method/--granularity the tuned model's own are used; planners that need the
  // original model are refused by name.
  ASSERT_EQ(run("plan " + out + " --planner greedy-kl --budget 0.375 --text " + text_ +
                " --held-ctx 32 --held-windows 2 -o " + plan),
            0)
      << out_;
  expect_one_line_error("plan " + out + " --planner fisher --budget 0.5 --text " + text_ + " -o " + plan,
                        "--planner fisher");
  expect_one_line_error("plan " + out + " --method palu --budget 0.5 -o " + plan, "already compressed");
}

TEST_F(TuneCli, TuneFlagErrors) {
  const std::string t = " --text " + text_ + " -o " + dir_ + "/o.gguf";
  expect_one_line_error("tune " + model_ + " --method pca" + t, "pca");
  expect_one_line_error(
      "tune " + model_ + " --method mkv --text " + text_ + " -o " + dir_ + "/o.safetensors",
      ".gguf");
  expect_one_line_error("tune " + model_ + " --method mkv --batch 0" + t, "--batch");
  expect_one_line_error("tune " + model_ + " --method mkv --resume" + t, "--checkpoint");
  expect_one_line_error(
      "tune " + model_ + " --method mkv --resume --checkpoint " + dir_ + "/none.safetensors" + t,
      "none.safetensors");
  expect_one_line_error("tune " + model_ + " --method mkv --calib " + model_ + t, "tiny.gguf");
  expect_one_line_error("tune " + model_ + " --method mkv --device tpu" + t, "--device tpu");
  expect_one_line_error("convert-gqa " + model_ + " --groups 2 --tune-steps 2 --device tpu" + t,
                        "--device tpu");
}

TEST_F(TuneCli, ConvertGqaWritesStandardModels) {
  const std::string calib = dir_ + "/calib.safetensors";
  ASSERT_EQ(run("calibrate " + model_ + " --text " + text_ + " --tokens 1500 --ctx 64 -o " + calib),
            0)
      << out_;
  const std::string g = dir_ + "/g.gguf", s = dir_ + "/g.safetensors";
  ASSERT_EQ(run("convert-gqa " + model_ + " --groups 2 --calib " + calib + " -o " + g), 0) << out_;
  ASSERT_EQ(run("convert-gqa " + model_ + " --groups 2 --calib " + calib + " -o " + s), 0) << out_;
  ASSERT_EQ(run("info " + g), 0) << out_;
  EXPECT_EQ(out_.find("lrkv.plan"), std::string::npos) << out_;
  const double pg = ppl(g), ps = ppl(s);
  EXPECT_NEAR(pg, ps, 1e-6 * pg);
  const std::string tuned = dir_ + "/t.safetensors";
  ASSERT_EQ(run("convert-gqa " + model_ + " --groups 2 --calib " + calib +
                " --tune-steps 3 --batch 2 --ctx 32 --text " + text_ + " -o " + tuned +
                " --force"),  // replaces g.safetensors' config.json beside it (same shapes)
            0)
      << out_;
  EXPECT_GT(ppl(tuned), 1.0);
  const std::string o = " -o " + dir_ + "/x.gguf";
  expect_one_line_error("convert-gqa " + model_ + " --groups 3 --calib " + calib + o, "--groups 3");
  expect_one_line_error("convert-gqa " + model_ + " --groups 2" + o, "--calib");
  expect_one_line_error(
      "convert-gqa " + model_ + " --groups 2 --calib " + calib + " -o " + dir_ + "/x.bin", ".gguf");
  expect_one_line_error(
      "convert-gqa " + model_ + " --groups 2 --calib " + calib + " --tune-steps 2" + o, "--text");
}

}  // namespace
}  // namespace lrkv
