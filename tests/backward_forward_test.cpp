// The training forward (model/train/train_forward.h) against the inference Engine, the fp64
// reference forward and its own fp64 twin, over the model variants loaders produce; plus the
// MatryoshkaKV projection path and bad inputs.
#include <algorithm>

#include "backward_fd.h"
#include "model/cpu_engine.h"
#include "model/train/train_forward.h"
#include "reference_forward.h"

namespace lrkv {
namespace {

struct Variant {
  const char* name;
  int n_head, n_kv_head, head_dim;
  RopeLayout layout;
  bool tied, bias, llama3;
  DType dtype;
};

LlamaConfig variant_config(const Variant& v, int n_layer = 2) {
  LlamaConfig c = test::tiny_config(n_layer, v.n_head, v.n_kv_head, v.head_dim);
  c.rope_layout = v.layout;
  c.tied_embeddings = v.tied;
  c.qkv_bias = v.bias;
  if (v.bias) c.arch = "qwen2";
  if (v.llama3) {
    c.rope_theta = 500000.0f;
    c.rope_scaling = {true, 8.0f, 1.0f, 4.0f, 32};
  }
  return c;
}

// Engine logits for each sequence in its own cache slot, rows in batch order.
std::vector<float> engine_logits(const Model& m, const TokenBatch& batch) {
  CpuEngine engine(m);
  int cap = 0;
  for (const auto& s : batch) cap = std::max(cap, static_cast<int>(s.size()));
  auto cache = engine.make_dense_cache(static_cast<int>(batch.size()), cap);
  EXPECT_TRUE(cache.ok());
  std::vector<SeqSpan> spans;
  for (size_t s = 0; s < batch.size(); ++s) {
    spans.push_back({static_cast<int>(s), batch[s].data(), static_cast<int>(batch[s].size())});
  }
  std::vector<float> logits;
  Status st = engine.forward(spans, **cache, LogitsMode::kAll, &logits);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return logits;
}

double range_of(const std::vector<float>& v) {
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *hi - *lo;
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

class BackwardForwardVariant : public ::testing::TestWithParam<Variant> {};

TEST_P(BackwardForwardVariant, LogitsMatchEngineAndFp64Reference) {
  auto model = make_random_model(variant_config(GetParam()), 7, GetParam().dtype);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  // 300 and 129 rows span several of the attention's 128-row blocks.
  const TokenBatch batch = test::some_batch({23, 300, 1, 129}, model->config.n_vocab);
  auto fwd = TrainForward::create(*model);
  ASSERT_TRUE(fwd.ok()) << fwd.status().to_string();
  ASSERT_TRUE(fwd->forward(batch).ok());
  const std::vector<float>& got = fwd->logits();
  const std::vector<float> eng = engine_logits(*model, batch);
  ASSERT_EQ(got.size(), eng.size());
  const double tol = 2e-5 * range_of(eng);
  test::MaxDiff d = test::max_abs_diff(got, eng);
  EXPECT_LT(d.value, tol) << GetParam().name << " vs engine: worst at " << d.index;
  std::vector<float> want;
  for (const auto& seq : batch) {
    const auto r = test::reference_forward(*model, seq);
    want.insert(want.end(), r.begin(), r.end());
  }
  d = test::max_abs_diff(got, want);
  EXPECT_LT(d.value, tol) << GetParam().name << " vs reference_forward: worst at " << d.index;
  d = test::max_abs_diff(got, to_float(ref::train_logits(*model, nullptr, batch)));
  EXPECT_LT(d.value, tol) << GetParam().name << " vs ref::train_logits: worst at " << d.index;
}

INSTANTIATE_TEST_SUITE_P(
    Backward, BackwardForwardVariant,
    ::testing::Values(
        Variant{"mha_interleaved_tied", 4, 4, 6, RopeLayout::kInterleaved, true, false, false,
                DType::kF32},
        Variant{"gqa_halfsplit", 6, 2, 4, RopeLayout::kHalfSplit, false, false, false, DType::kF32},
        Variant{"qwen2_bias", 4, 2, 8, RopeLayout::kHalfSplit, false, true, false, DType::kF32},
        Variant{"llama3_scaling", 4, 2, 6, RopeLayout::kInterleaved, false, false, true,
                DType::kF32},
        Variant{"f16_weights", 4, 2, 6, RopeLayout::kHalfSplit, true, false, false, DType::kF16},
        Variant{"bf16_weights_mqa", 4, 1, 6, RopeLayout::kInterleaved, false, true, false,
                DType::kBF16}),
    [](const auto& info) { return std::string(info.param.name); });

// Random projections with ranks below head_dim, different per (layer, head, K|V).
KvProjections random_projections(const LlamaConfig& c, uint64_t seed) {
  KvProjections P = KvProjections::identity(c);
  uint64_t s = seed;
  auto next = [&] {  // uniform in [-1, 1)
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((s >> 40) * (1.0 / (1ull << 23)) - 1.0);
  };
  const int hd = c.head_dim;
  for (size_t i = 0; i < P.heads.size(); ++i) {
    KvHeadProjection& h = P.heads[i];
    for (auto* u : {&h.u_k, &h.u_v}) {
      for (float& x : *u) x += 0.4f * next();
    }
    for (auto* m : {&h.mu_k, &h.mu_v}) {
      for (float& x : *m) x = 0.5f * next();
    }
    h.rank_k = 1 + static_cast<int>(i * 3 % hd);
    h.rank_v = hd - static_cast<int>(i % 3);
  }
  return P;
}

TEST(BackwardForward, ProjectedLogitsMatchFp64Twin) {
  for (const Variant& v :
       {Variant{"mha", 4, 4, 6, RopeLayout::kInterleaved, false, false, false, DType::kF32},
        Variant{"gqa", 6, 2, 8, RopeLayout::kHalfSplit, false, true, false, DType::kF32}}) {
    auto model = make_random_model(variant_config(v), 11);
    ASSERT_TRUE(model.ok());
    const KvProjections P = random_projections(model->config, 5);
    auto fwd = TrainForward::create(*model);
    ASSERT_TRUE(fwd.ok());
    ASSERT_TRUE(fwd->set_projections(&P).ok());
    const TokenBatch batch = test::some_batch({14, 5}, model->config.n_vocab);
    ASSERT_TRUE(fwd->forward(batch).ok());
    const auto want = to_float(ref::train_logits(*model, &P, batch));
    const test::MaxDiff d = test::max_abs_diff(fwd->logits(), want);
    EXPECT_LT(d.value, 2e-5 * range_of(want)) << v.name << ": worst at " << d.index;
  }
}

TEST(BackwardForward, IdentityProjectionsChangeNothing) {
  auto model = make_random_model(
      variant_config({"gqa", 6, 2, 4, RopeLayout::kHalfSplit, false, false, false, DType::kF32}),
      3);
  ASSERT_TRUE(model.ok());
  auto fwd = TrainForward::create(*model);
  ASSERT_TRUE(fwd.ok());
  const TokenBatch batch = test::some_batch({12, 7}, model->config.n_vocab);
  ASSERT_TRUE(fwd->forward(batch).ok());
  const std::vector<float> plain = fwd->logits();
  KvProjections P = KvProjections::identity(model->config);
  for (auto& h : P.heads) std::fill(h.mu_k.begin(), h.mu_k.end(), 0.3f);  // cancels at full rank
  ASSERT_TRUE(fwd->set_projections(&P).ok());
  ASSERT_TRUE(fwd->forward(batch).ok());
  EXPECT_LT(test::max_abs_diff(fwd->logits(), plain).value, 1e-5 * range_of(plain));
}

TEST(BackwardForward, BadInputsAreErrors) {
  auto model = make_random_model(test::tiny_config(), 1);
  ASSERT_TRUE(model.ok());
  auto fwd = TrainForward::create(*model);
  ASSERT_TRUE(fwd.ok());
  EXPECT_EQ(fwd->forward({}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(fwd->forward({{1, 2}, {}}).code(), ErrorCode::kInvalidArgument);
  Status s = fwd->forward({{1, model->config.n_vocab}});
  EXPECT_NE(s.message().find("outside the vocabulary"), std::string::npos) << s.message();
  Gradients g;
  std::vector<float> dl(10);
  s = fwd->backward(dl.data(), {}, &g);
  EXPECT_NE(s.message().find("no forward"), std::string::npos) << s.message();
  KvProjections P = KvProjections::identity(model->config);
  P.heads[1].rank_v = 0;
  EXPECT_EQ(fwd->set_projections(&P).code(), ErrorCode::kInvalidArgument);
  P = KvProjections::identity(test::tiny_config(3));
  EXPECT_EQ(fwd->set_projections(&P).code(), ErrorCode::kShapeMismatch);
  Model broken = std::move(model).value();
  broken.weights.layers[1].wk = Tensor();
  auto bad = TrainForward::create(broken);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("blk.1.attn_k"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace lrkv
