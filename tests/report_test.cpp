// Eval reports: KL of a model with itself is 0, method specs, report JSON round trip and
// Markdown, and `lrkv eval`'s resumability (finished cells are skipped, settings are checked).
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "model/cpu_engine.h"
#include "eval/kl_divergence.h"
#include "eval/logits_file.h"
#include "eval/perplexity.h"
#include "eval/plot/png_io.h"
#include "eval/report/eval_runner.h"
#include "eval/report/report_data.h"
#include "eval/report/report_markdown.h"
#include "eval/report/speed.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

namespace fs = std::filesystem;

std::vector<int> some_tokens(int n, int vocab) {
  std::vector<int> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 7919 + 3) % vocab);
  return t;
}

TEST(Report, KlOfAModelWithItselfIsZero) {
  auto m = make_random_model(test::tiny_config(), 5);
  ASSERT_TRUE(m.ok());
  CpuEngine engine(*m);
  const std::vector<int> tokens = some_tokens(150, m->config.n_vocab);
  const std::string path = test::temp_dir() + "/base.lgp";
  auto w = LogitsWriter::create(path, m->config.n_vocab);
  ASSERT_TRUE(w.ok());
  PerplexityOptions po;
  po.progress = false;
  ASSERT_TRUE(run_perplexity(engine, tokens, po, [&](int64_t i, int t, const float* l) {
                ASSERT_TRUE(w->add(i, t, l).ok());
              }).ok());
  ASSERT_TRUE(w->finish().ok());
  auto r = LogitsReader::open(path);
  ASSERT_TRUE(r.ok());
  KlAccumulator kl, exact;
  std::vector<float> lp(m->config.n_vocab), own(m->config.n_vocab);
  uint64_t row = 0;
  auto second = run_perplexity(engine, tokens, po, [&](int64_t, int t, const float* l) {
    EXPECT_TRUE(r->log_probs(row++, lp.data()).ok());
    kl.add(lp.data(), l, m->config.n_vocab, t);
    log_softmax(l, m->config.n_vocab, own.data());
    exact.add(own.data(), l, m->config.n_vocab, t);
  });
  ASSERT_TRUE(second.ok());
  const KlStats s = kl.stats(), e = exact.stats();
  EXPECT_EQ(s.n, second->n_scored);
  EXPECT_EQ(static_cast<uint64_t>(s.n), r->n_rows());
  EXPECT_LT(s.mean_kl, 1e-5);  // f16 log-probs on disk
  EXPECT_LT(e.mean_kl, 1e-7);  // the same distribution in f32 (rounding of the log-softmax only)
  EXPECT_DOUBLE_EQ(s.top1_agreement, 1.0);
  EXPECT_NEAR(s.base_ppl, s.model_ppl, 1e-3 * s.model_ppl);
}

TEST(Report, MethodSpecsDefaultsAndErrors) {
  LlamaConfig cfg = test::tiny_config(2, 8, 4, 8);
  auto p = parse_method_spec("palu:group:2", cfg);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->spec(), "palu:group:2");
  EXPECT_EQ(p->label(), "palu group:2");
  EXPECT_EQ(parse_method_spec("lorc", cfg)->arg, "joint");
  EXPECT_EQ(parse_method_spec("mkv-pca", cfg)->arg, "head");
  EXPECT_EQ(parse_method_spec("palu", cfg)->arg, "joint");  // 4 KV heads: group of 4 = joint
  auto bad = parse_method_spec("palu:group:3", cfg);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("palu:group:3"), std::string::npos);
  auto unknown = parse_method_spec("foo:2", cfg);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("palu, lorc, mkv-pca"), std::string::npos);
  test::expect_error(parse_method_list("lorc,lorc:joint", cfg).status(),
                     ErrorCode::kInvalidArgument, {"lorc:joint"});
  auto list = parse_method_list("palu:head,lorc", cfg);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
}

CellResult sample_cell(const std::string& spec, double budget) {
  CellResult c;
  c.spec = spec;
  c.label = spec;
  c.key = cell_key(spec, budget);
  c.budget = budget;
  c.kept_fraction = budget;
  c.kv_bytes_per_token = static_cast<int64_t>(1000 * budget);
  c.ppl = PplSummary{12.5 / budget, 2.5, 0.01, 100, 1234.0};
  KlStats k;
  k.n = 100;
  k.mean_kl = spec == "dense" ? 0.0 : 0.05;
  k.top1_agreement = 0.9;
  if (spec != "dense") c.kl = k;
  c.tasks["arc_easy"] = TaskSummary{20, 0.3, 0.35, 0.3, 0.1, 0.1, 0.25};
  c.speed = SpeedSummary{32, 8, 1000.0, std::nan("")};
  return c;
}

TEST(Report, JsonRoundTripAndMarkdown) {
  Report r;
  r.settings = {{"text", "t.txt"}};
  r.model = {{"name", "tiny"}, {"n_layer", 2}, {"n_kv_head", 2}, {"head_dim", 6}};
  r.upsert(sample_cell("dense", 1.0));
  r.upsert(sample_cell("lorc:joint", 0.5));
  r.upsert(sample_cell("lorc:joint", 0.5));  // replaces, does not duplicate
  ASSERT_EQ(r.cells.size(), 2u);
  const std::string path = test::temp_dir() + "/report.json";
  ASSERT_TRUE(save_report(r, path).ok());
  auto back = load_report(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->cells.size(), 2u);
  const CellResult* c = back->find("lorc:joint@0.5");
  ASSERT_NE(c, nullptr);
  EXPECT_DOUBLE_EQ(c->ppl->ppl, 25.0);
  EXPECT_DOUBLE_EQ(c->kl->mean_kl, 0.05);
  EXPECT_TRUE(std::isnan(c->speed->decode_tps));  // NaN survives as null
  EXPECT_EQ(c->tasks.at("arc_easy").n, 20);
  const std::string md =
      render_report_markdown(*back, {{"ppl_vs_kv", "Perplexity", "ppl_vs_kv.png"}});
  EXPECT_NE(md.find("| lorc:joint | 0.5 | 0.500 | 500 | 50% | 25.000 | +12.500 | 0.0500"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| dense | 1 |"), std::string::npos);
  EXPECT_NE(md.find("![Perplexity](ppl_vs_kv.png)"), std::string::npos);
  EXPECT_NE(md.find("*chance*"), std::string::npos);
  std::ofstream(path) << "{\"format\": \"other\"}";
  test::expect_error(load_report(path).status(), ErrorCode::kCorruptFile, {path});
}

TEST(Report, SpeedTestMeasuresBothPhases) {
  auto m = make_random_model(test::tiny_config(), 2);
  ASSERT_TRUE(m.ok());
  CpuEngine engine(*m);
  SpeedOptions o;
  o.ctx = 16;
  o.batch = 2;
  o.n_gen = 4;
  o.reps = 2;
  auto s = measure_speed(engine, o);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_GT(s->prefill_tps, 0.0);
  EXPECT_GT(s->decode_tps, 0.0);
  EXPECT_EQ(s->kv_bytes, s->kv_bytes_per_token * 2 * 20);
  o.reps = 0;
  EXPECT_FALSE(measure_speed(engine, o).ok());
}

class ReportResume : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = make_random_model(test::tiny_config(2, 4, 2, 8), 9);
    ASSERT_TRUE(m.ok());
    model_ = std::move(m).value();
    model_.source_path = "tiny-random";
    dir_ = test::temp_dir();
    std::string text;
    for (int i = 0; i < 40; ++i) text += "the cat sat on the mat and the dog ran. ";
    std::ofstream(dir_ + "/text.txt") << text;
    std::ofstream(dir_ + "/task.jsonl")
        << R"({"context":"the cat sat on the","choices":["mat","dog"],"label":0})"
           "\n"
        << R"({"context":"the dog","choices":["ran","sat"],"label":0})"
           "\n";
    o_.methods = *parse_method_list("lorc,palu", model_.config);
    o_.budgets = {0.5};
    o_.text.path = dir_ + "/text.txt";
    o_.calib_text.path = dir_ + "/text.txt";
    o_.tasks = dir_ + "/task.jsonl";
    o_.passkey = false;
    o_.speed_opts.ctx = 16;
    o_.speed_opts.n_gen = 4;
    o_.speed_opts.reps = 1;
    o_.out_dir = dir_ + "/report";
  }
  std::map<std::string, double> cell_seconds() {
    auto r = load_report(o_.out_dir + "/report.json");
    EXPECT_TRUE(r.ok());
    std::map<std::string, double> s;
    for (const CellResult& c : r->cells) s[c.key] = c.seconds;
    return s;
  }
  Model model_;
  std::string dir_;
  EvalOptions o_;
};

TEST_F(ReportResume, SecondRunSkipsFinishedCells) {
  ASSERT_TRUE(run_eval(model_, o_).ok());
  const auto first = cell_seconds();
  ASSERT_EQ(first.size(), 3u);  // dense + lorc + palu
  for (const char* f : {"report.md", "ppl_vs_kv.png", "memory_vs_context.png", "spectra_k.png",
                        "ranks_lorc-joint_0.5.png", "base_logprobs.lgp"}) {
    EXPECT_TRUE(fs::exists(o_.out_dir + "/" + f)) << f;
  }
  auto png = plot::read_png(o_.out_dir + "/ppl_vs_kv.png");
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->width(), 960);
  auto report = load_report(o_.out_dir + "/report.json");
  ASSERT_TRUE(report.ok());
  const CellResult* lorc = report->find("lorc:joint@0.5");
  ASSERT_NE(lorc, nullptr);
  ASSERT_TRUE(lorc->kl.has_value());
  EXPECT_GT(lorc->kl->mean_kl, 0.0);
  EXPECT_EQ(lorc->kv_bytes_per_token * 2, report->dense()->kv_bytes_per_token);
  EXPECT_EQ(lorc->tasks.at("task").n, 2);

  // Rerun: nothing recomputed. One more budget: only its cells run.
  ASSERT_TRUE(run_eval(model_, o_).ok());
  EXPECT_EQ(cell_seconds(), first);
  o_.budgets = {0.5, 0.25};
  ASSERT_TRUE(run_eval(model_, o_).ok());
  auto grown = cell_seconds();
  ASSERT_EQ(grown.size(), 5u);
  for (const auto& [k, s] : first) EXPECT_EQ(grown[k], s) << k;

  // Losing the dense log-probs recomputes the dense cell (KL needs them) when cells are pending.
  fs::remove(o_.out_dir + "/base_logprobs.lgp");
  o_.budgets = {0.5, 0.25, 0.75};
  ASSERT_TRUE(run_eval(model_, o_).ok());
  auto again = cell_seconds();
  EXPECT_NE(again["dense@1"], first.at("dense@1"));
  EXPECT_EQ(again["lorc:joint@0.5"], first.at("lorc:joint@0.5"));

  // Different settings are refused; --force recomputes.
  o_.task_limit = 1;
  Status s = run_eval(model_, o_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("task_limit"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--force"), std::string::npos);
  o_.force = true;
  ASSERT_TRUE(run_eval(model_, o_).ok());
  EXPECT_NE(cell_seconds()["lorc:joint@0.5"], first.at("lorc:joint@0.5"));
}

}  // namespace
}  // namespace lrkv

namespace lrkv {
namespace {

class ReportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir();
    model_ = dir_ + "/tiny.gguf";
    ASSERT_EQ(run("synth --preset tiny --dtype f32 -o " + model_), 0) << out_;
    std::ofstream t(dir_ + "/text.txt");
    for (int i = 0; i < 30; ++i)
      t << "the cat sat on the mat and then it ran to the tree " << i << "\n\n";
  }
  int run(const std::string& args) {
    return test::run_command(test::cli_path() + " " + args, &out_);
  }
  void expect_error(const std::string& args, const std::string& fragment) {
    EXPECT_EQ(run(args), 2) << args << "\n" << out_;
    const size_t at = out_.rfind("lrkv: error:");
    ASSERT_NE(at, std::string::npos) << out_;
    const std::string last = out_.substr(at);
    EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
    EXPECT_NE(last.find(fragment), std::string::npos) << last;
  }
  std::string dir_, model_, out_;
};

TEST_F(ReportCli, EvalAndBenchEndToEnd) {
  const std::string common =
      "eval " + model_ + " --text " + dir_ + "/text.txt --split-paragraphs --calib-text " + dir_ +
      "/text.txt --calib-tokens 500 --no-passkey --decode-ctx 16 --decode-tokens 4 ";
  ASSERT_EQ(run(common + "--methods lorc,palu:head --budgets 0.5 -o " + dir_ + "/r"), 0) << out_;
  auto md = read_text_file(dir_ + "/r/report.md");
  ASSERT_TRUE(md.ok());
  EXPECT_NE(md->find("| palu head | 0.5 |"), std::string::npos) << *md;
  ASSERT_EQ(run(common + "--methods lorc,palu:head --budgets 0.5 -o " + dir_ + "/r"), 0) << out_;
  EXPECT_NE(out_.find("already in the report, skipped"), std::string::npos) << out_;
  ASSERT_EQ(run("bench " + model_ + " --ctx 16,32 --batch 1,2 -n 4 -r 1"), 0) << out_;
  EXPECT_NE(out_.find("| pp32 |"), std::string::npos) << out_;
  EXPECT_NE(out_.find("| tg4@16 |"), std::string::npos) << out_;
  ASSERT_EQ(run("bench " + model_ + " --ctx 16 -n 2 -r 1 -o json"), 0) << out_;
  EXPECT_NE(out_.find("\"decode_tps\""), std::string::npos) << out_;
}

// MHA->GQA in the comparison: g = 1/budget (the tiny model has 2 KV heads, so only 0.5 applies;
// 0.375 is skipped with a message), a standard model at half the dense cache bytes.
TEST_F(ReportCli, GqaCellsAtBudgetsOneOverG) {
  ASSERT_EQ(run("eval " + model_ + " --text " + dir_ + "/text.txt --split-paragraphs --calib-text " + dir_ +
                "/text.txt --calib-tokens 500 --no-passkey --decode-ctx 16 --decode-tokens 4 --methods gqa,lorc "
                "--budgets 0.5,0.375 -o " + dir_ + "/g"),
            0)
      << out_;
  EXPECT_NE(out_.find("gqa at budget 0.375: not supported"), std::string::npos) << out_;
  auto report = load_report(dir_ + "/g/report.json");
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const CellResult* gqa = report->find("gqa@0.5");
  ASSERT_NE(gqa, nullptr);
  EXPECT_EQ(report->find("gqa@0.375"), nullptr);
  EXPECT_NE(report->find("lorc:joint@0.375"), nullptr);
  EXPECT_EQ(gqa->kv_bytes_per_token * 2, report->dense()->kv_bytes_per_token);
  EXPECT_DOUBLE_EQ(gqa->kept_fraction, 0.5);
  ASSERT_TRUE(gqa->kl.has_value());
  EXPECT_GT(gqa->kl->mean_kl, 0.0);
  expect_error("eval " + model_ + " --text " + dir_ + "/text.txt --methods gqa:2 -o " + dir_ + "/bad", "gqa:2");
}

TEST_F(ReportCli, BadFlagsAreNamedErrors) {
  const std::string base = "eval " + model_ + " --text " + dir_ + "/text.txt -o " + dir_ + "/bad ";
  expect_error(base + "--methods foo", "unknown method 'foo'");
  expect_error(base + "--methods palu:group:3", "palu:group:3");
  expect_error(base + "--methods lorc --budgets 1.5", "--budgets: 1.5");
  expect_error(base + "--methods lorc --limit -1", "--limit");
  expect_error(base + "--methods lorc --tasks " + dir_ + "/none.jsonl", "none.jsonl");
  expect_error(base + "--methods palu --no-passkey", "--calib");
  expect_error(base + "--methods lorc --passkey-lengths 100000", "--passkey-lengths");
  expect_error("bench " + model_ + " --ctx 0", "--ctx 0");
  expect_error("bench " + model_ + " -o xml", "-o 'xml'");
}

}  // namespace
}  // namespace lrkv
