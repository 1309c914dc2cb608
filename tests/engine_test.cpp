// The CPU engine against an independent fp64 forward (reference_forward.cpp) over the model
// variants the loaders produce, plus batching, incremental decode, hooks and bad requests.
#include <algorithm>
#include <set>

#include "model/cpu_engine.h"
#include "model/synth.h"
#include "reference_forward.h"
#include "test_util.h"

namespace lrkv {
namespace {

struct Variant {
  const char* name;
  int n_head, n_kv_head, head_dim;
  RopeLayout layout;
  bool tied, bias, llama3;
  DType dtype;
};

LlamaConfig variant_config(const Variant& v) {
  LlamaConfig c = test::tiny_config(2, v.n_head, v.n_kv_head, v.head_dim);
  c.rope_layout = v.layout;
  c.tied_embeddings = v.tied;
  c.qkv_bias = v.bias;
  if (v.bias) c.arch = "qwen2";
  if (v.llama3) {
    c.rope_theta = 500000.0f;
    c.rope_scaling = {true, 8.0f, 1.0f, 4.0f, 32};  // small original context so all regimes occur
  }
  return c;
}

std::vector<int> some_tokens(int n, int vocab, int salt = 0) {
  std::vector<int> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 37 + 11 + salt * 101) % vocab;
  t[0] = 1;
  return t;
}

std::vector<float> run(CpuEngine& e, const std::vector<int>& tokens, DType kv = DType::kF32) {
  auto cache = e.make_dense_cache(1, static_cast<int>(tokens.size()), kv);
  EXPECT_TRUE(cache.ok());
  std::vector<float> logits;
  Status s = e.forward({{0, tokens.data(), static_cast<int>(tokens.size())}}, **cache, LogitsMode::kAll, &logits);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return logits;
}

double range_of(const std::vector<float>& v) {
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *hi - *lo;
}

class EngineVariant : public ::testing::TestWithParam<Variant> {};

TEST_P(EngineVariant, MatchesFp64Reference) {
  auto model = make_random_model(variant_config(GetParam()), 7, GetParam().dtype);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  CpuEngine engine(*model);
  const auto tokens = some_tokens(40, model->config.n_vocab);
  const std::vector<float> got = run(engine, tokens);
  const std::vector<double> want = test::reference_forward(*model, tokens);
  ASSERT_EQ(got.size(), want.size());
  std::vector<float> wantf(want.begin(), want.end());
  const test::MaxDiff d = test::max_abs_diff(got, wantf);
  EXPECT_LT(d.value, 1e-5 * range_of(wantf)) << GetParam().name << ": worst at " << d.index;
}

INSTANTIATE_TEST_SUITE_P(
    Variants, EngineVariant,
    ::testing::Values(Variant{"mha_interleaved_tied", 4, 4, 6, RopeLayout::kInterleaved, true, false, false, DType::kF32},
                      Variant{"gqa_halfsplit", 6, 2, 4, RopeLayout::kHalfSplit, false, false, false, DType::kF32},
                      Variant{"qwen2_bias", 4, 2, 8, RopeLayout::kHalfSplit, false, true, false, DType::kF32},
                      Variant{"llama3_scaling", 4, 1, 16, RopeLayout::kInterleaved, false, false, true, DType::kF32},
                      Variant{"f16_weights", 4, 2, 6, RopeLayout::kInterleaved, true, false, false, DType::kF16},
                      Variant{"bf16_weights", 2, 2, 10, RopeLayout::kHalfSplit, false, false, false, DType::kBF16}),
    [](const auto& info) { return std::string(info.param.name); });

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = make_random_model(test::tiny_config(2, 4, 2, 6), 3);
    ASSERT_TRUE(m.ok());
    model_ = std::move(m).value();
  }
  Model model_;
};

TEST_F(EngineTest, BatchOfSequencesEqualsSeparateRuns) {
  CpuEngine engine(model_);
  const int V = model_.config.n_vocab;
  std::vector<std::vector<int>> seqs = {some_tokens(9, V, 1), some_tokens(3, V, 2), some_tokens(17, V, 3)};
  auto cache = engine.make_dense_cache(3, 32);
  ASSERT_TRUE(cache.ok());
  std::vector<SeqSpan> spans;
  for (int i = 0; i < 3; ++i) spans.push_back({2 - i, seqs[i].data(), static_cast<int>(seqs[i].size())});
  std::vector<float> batched;
  ASSERT_TRUE(engine.forward(spans, **cache, LogitsMode::kAll, &batched).ok());
  size_t row = 0;
  for (const auto& s : seqs) {
    const std::vector<float> single = run(engine, s);
    for (size_t i = 0; i < single.size(); ++i) {
      ASSERT_NEAR(batched[row * V + i], single[i], 1e-5 * range_of(single));
    }
    row += s.size();
  }
}

TEST_F(EngineTest, IncrementalDecodeEqualsPrefill) {
  CpuEngine engine(model_);
  const int V = model_.config.n_vocab;
  const auto tokens = some_tokens(20, V);
  const std::vector<float> full = run(engine, tokens);
  auto cache = engine.make_dense_cache(1, 20);
  ASSERT_TRUE(cache.ok());
  std::vector<float> logits;
  ASSERT_TRUE(engine.forward({{0, tokens.data(), 8}}, **cache, LogitsMode::kLast, &logits).ok());
  for (int t = 8; t <= 20; ++t) {
    ASSERT_EQ(logits.size(), static_cast<size_t>(V));
    for (int i = 0; i < V; ++i) ASSERT_NEAR(logits[i], full[(t - 1) * V + i], 1e-5 * range_of(full)) << t;
    if (t == 20) break;
    ASSERT_TRUE(engine.forward({{0, &tokens[t], 1}}, **cache, LogitsMode::kLast, &logits).ok());
  }
  EXPECT_EQ((*cache)->length(0), 20);
}

TEST_F(EngineTest, HalfPrecisionCacheStaysClose) {
  CpuEngine engine(model_);
  const auto tokens = some_tokens(30, model_.config.n_vocab);
  const std::vector<float> a = run(engine, tokens, DType::kF32);
  for (DType t : {DType::kF16, DType::kBF16}) {
    const std::vector<float> b = run(engine, tokens, t);
    // bf16 keeps 8 mantissa bits (rel. 2^-9), f16 11 bits; logits move by a small multiple.
    const double tol = (t == DType::kF16 ? 2e-3 : 2e-2) * range_of(a);
    EXPECT_LT(test::max_abs_diff(a, b).value, tol) << dtype_name(t);
  }
}

TEST_F(EngineTest, HooksReportEveryPointWithShapes) {
  CpuEngine engine(model_);
  std::set<std::pair<int, int>> seen;
  const LlamaConfig& c = model_.config;
  engine.set_hook([&](const HookEvent& e) {
    seen.insert({e.layer, static_cast<int>(e.point)});
    EXPECT_EQ(e.rows, 5);
    const int64_t want = e.point == HookPoint::kQPreRope || e.point == HookPoint::kQPostRope ||
                                 e.point == HookPoint::kAttnOutput ? c.q_dim()
                         : e.point == HookPoint::kKPreRope || e.point == HookPoint::kKPostRope ||
                                 e.point == HookPoint::kV ? c.kv_dim()
                                                          : c.d_model;
    EXPECT_EQ(e.cols, want) << hook_point_name(e.point);
    EXPECT_EQ(e.positions[4], 4);
  });
  run(engine, some_tokens(5, c.n_vocab));
  EXPECT_EQ(seen.size(), static_cast<size_t>(c.n_layer * 9 + 1));
}

TEST_F(EngineTest, BadRequestsAreErrorsNotCrashes) {
  CpuEngine engine(model_);
  auto cache = engine.make_dense_cache(2, 4);
  ASSERT_TRUE(cache.ok());
  std::vector<float> logits;
  std::vector<int> bad = {1, model_.config.n_vocab};
  Status s = engine.forward({{0, bad.data(), 2}}, **cache, LogitsMode::kLast, &logits);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("outside the vocabulary"), std::string::npos) << s.message();
  std::vector<int> many = {1, 2, 3, 4, 5};
  s = engine.forward({{0, many.data(), 5}}, **cache, LogitsMode::kLast, &logits);
  EXPECT_NE(s.message().find("exceed the context"), std::string::npos) << s.message();
  s = engine.forward({{0, many.data(), 1}, {0, many.data(), 1}}, **cache, LogitsMode::kLast, &logits);
  EXPECT_NE(s.message().find("twice"), std::string::npos) << s.message();
  s = engine.forward({{5, many.data(), 1}}, **cache, LogitsMode::kLast, &logits);
  EXPECT_NE(s.message().find("outside the cache"), std::string::npos) << s.message();
  EXPECT_EQ((*cache)->length(0), 0);  // nothing was committed by failed calls
}

}  // namespace
}  // namespace lrkv
