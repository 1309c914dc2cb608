// Evaluation pieces: document ranges, strided-window perplexity, KL statistics, logits files.
#include <cmath>
#include <fstream>

#include "model/cpu_engine.h"
#include "core/mmap_file.h"
#include "eval/kl_divergence.h"
#include "eval/logits_file.h"
#include "eval/perplexity.h"
#include "io/text_source.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const std::string p = test::temp_dir() + "/" + name;
  std::ofstream(p) << text;
  return p;
}

TEST(TextSourceTest, RangesByIndexAndPercent) {
  auto r = parse_range("2:5", 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 2u);
  EXPECT_EQ(r->second, 5u);
  r = parse_range("90%:100%", 20);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 18u);
  EXPECT_EQ(r->second, 20u);
  test::expect_error(parse_range("5:5", 10).status(), ErrorCode::kInvalidArgument, {"5:5"});
  test::expect_error(parse_range("x:3", 10).status(), ErrorCode::kInvalidArgument, {"x:3"});
  test::expect_error(parse_range("3", 10).status(), ErrorCode::kInvalidArgument, {"'3'"});
  test::expect_error(parse_range("-1:3", 10).status(), ErrorCode::kInvalidArgument, {"-1:3"});
}

TEST(TextSourceTest, JsonlAndParagraphs) {
  const std::string j = write_file("d.jsonl", "{\"text\": \"one\"}\n\n{\"text\": \"two\"}\n{\"text\": \"three\"}\n");
  auto docs = read_documents({j, "text", false, "1:3"});
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(*docs, (std::vector<std::string>{"two", "three"}));
  const std::string bad = write_file("bad.jsonl", "{\"text\": \"one\"}\n{oops\n");
  auto e = read_documents({bad, "text", false, ""});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("bad.jsonl:2"), std::string::npos) << e.status().message();
  const std::string t = write_file("p.txt", "a b\nc\n\n\nd\n \ne f\n");
  docs = read_documents({t, "text", true, ""});
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(*docs, (std::vector<std::string>{"a b\nc", "d", "e f"}));
}

class PerplexityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = make_random_model(test::tiny_config(), 5);
    ASSERT_TRUE(m.ok());
    model_ = std::move(m).value();
    for (int i = 0; i < 100; ++i) tokens_.push_back((i * 7919 + 3) % model_.config.n_vocab);
  }
  // NLL of every target with the full history inside its window, by brute force.
  double brute_force_nll(int ctx, int stride, int64_t* n) {
    CpuEngine engine(model_);
    double sum = 0.0;
    *n = 0;
    int64_t done = 1;
    for (int64_t b = 0; done < static_cast<int64_t>(tokens_.size()); b += stride) {
      const int64_t e = std::min<int64_t>(b + ctx, tokens_.size());
      for (int64_t t = std::max(b + 1, done); t < e; ++t) {
        auto cache = engine.make_dense_cache(1, ctx);
        std::vector<float> logits;
        EXPECT_TRUE(engine.forward({{0, tokens_.data() + b, static_cast<int>(t - b)}}, **cache,
                                   LogitsMode::kLast, &logits).ok());
        sum += token_nll(logits.data(), model_.config.n_vocab, tokens_[t]);
        ++*n;
      }
      done = std::max(done, e);
      if (e == static_cast<int64_t>(tokens_.size())) break;
    }
    return sum;
  }
  Model model_;
  std::vector<int> tokens_;
};

TEST_F(PerplexityTest, StridedWindowsScoreEachTargetOnce) {
  CpuEngine engine(model_);
  for (auto [ctx, stride, batch] : {std::tuple{16, 16, 3}, std::tuple{16, 5, 2}, std::tuple{64, 64, 1}}) {
    PerplexityOptions o;
    o.ctx = ctx;
    o.stride = stride;
    o.batch = batch;
    o.progress = false;
    std::vector<int64_t> seen;
    auto r = run_perplexity(engine, tokens_, o, [&](int64_t i, int, const float*) { seen.push_back(i); });
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    // Strictly increasing (each target at most once); with overlap (stride < ctx) every target
    // is scored; without, each window's first token is context only (Hugging Face's rule).
    for (size_t i = 1; i < seen.size(); ++i) ASSERT_GT(seen[i], seen[i - 1]);
    const size_t n_windows = (tokens_.size() + stride - 1) / stride;
    EXPECT_EQ(seen.size(), stride < ctx ? tokens_.size() - 1 : tokens_.size() - n_windows);
    int64_t n = 0;
    const double sum = brute_force_nll(ctx, stride, &n);
    EXPECT_EQ(n, r->n_scored);
    EXPECT_NEAR(r->mean_nll, sum / n, 1e-5) << ctx << "/" << stride;
    EXPECT_NEAR(r->ppl, std::exp(sum / n), 1e-4 * r->ppl);
  }
}

TEST_F(PerplexityTest, RejectsBadOptions) {
  CpuEngine engine(model_);
  PerplexityOptions o;
  o.ctx = 8;
  o.stride = 9;
  EXPECT_FALSE(run_perplexity(engine, tokens_, o).ok());
  o.stride = 0;
  EXPECT_FALSE(run_perplexity(engine, {1}, o).ok());
}

TEST(KlTest, SelfKlIsZeroAndKnownValue) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f};
  std::vector<float> lp(4);
  log_softmax(logits.data(), 4, lp.data());
  KlAccumulator self;
  self.add(lp.data(), logits.data(), 4, 1);
  EXPECT_NEAR(self.stats().mean_kl, 0.0, 1e-7);
  EXPECT_EQ(self.stats().top1_agreement, 1.0);
  // Two-outcome case with a closed form: P = (0.5, 0.5), Q = softmax(0, log 3) = (0.25, 0.75).
  const float p2[2] = {std::log(0.5f), std::log(0.5f)};
  const float q2[2] = {0.0f, std::log(3.0f)};
  KlAccumulator kl;
  kl.add(p2, q2, 2, 0);
  const double want = 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75);
  EXPECT_NEAR(kl.stats().mean_kl, want, 1e-6);
  EXPECT_NEAR(kl.stats().model_ppl, 4.0, 1e-5);
  EXPECT_NEAR(kl.stats().base_ppl, 2.0, 1e-5);
}

TEST(LogitsFileTest, RoundTripAndCorruption) {
  const std::string path = test::temp_dir() + "/l.bin";
  auto w = LogitsWriter::create(path, 5);
  ASSERT_TRUE(w.ok());
  const float a[5] = {0, 1, 2, 3, 4}, b[5] = {-3, 0, 0, 1, 9};
  ASSERT_TRUE(w->add(7, 3, a).ok());
  ASSERT_TRUE(w->add(8, 1, b).ok());
  ASSERT_TRUE(w->finish().ok());
  auto r = LogitsReader::open(path);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->n_rows(), 2u);
  EXPECT_EQ(r->index(1), 8u);
  EXPECT_EQ(r->target(0), 3);
  float lp[5], want[5];
  ASSERT_TRUE(r->log_probs(1, lp).ok());
  log_softmax(b, 5, want);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(lp[i], want[i], 1e-3 * (1 + std::fabs(want[i])));
  // Truncated copies are rejected with the file name.
  auto bytes = read_text_file(path);
  const std::string cut = test::temp_dir() + "/cut.bin";
  std::ofstream(cut, std::ios::binary) << bytes->substr(0, bytes->size() - 3);
  auto bad = LogitsReader::open(cut);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cut.bin"), std::string::npos);
}

}  // namespace
}  // namespace lrkv
