// next_token_loss (CE, KL, the MatryoshkaKV mix, masks): values against the fp64 definition,
// dL/dlogits against central differences, KL of a model against itself, bad options.
#include <random>

#include "backward_fd.h"

namespace lrkv {
namespace {

struct LossCase {
  TokenBatch batch;
  std::vector<SeqRange> seqs;
  std::vector<int> tokens;
  std::vector<float> logits, teacher;  // [T, V]
  int64_t V = 37;
};

LossCase make_case() {
  LossCase c;
  c.batch = test::some_batch({6, 1, 4}, static_cast<int>(c.V));
  for (const auto& s : c.batch) {
    c.seqs.push_back({static_cast<int64_t>(c.tokens.size()), static_cast<int64_t>(s.size())});
    c.tokens.insert(c.tokens.end(), s.begin(), s.end());
  }
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 2.0f);
  for (size_t i = 0; i < c.tokens.size() * c.V; ++i) {
    c.logits.push_back(n(rng));
    c.teacher.push_back(n(rng) - 5.0f);  // any shift: log_softmax is applied
  }
  return c;
}

void expect_loss_matches(LossCase& c, const LossOptions& o, const std::string& name) {
  std::vector<float> g(c.logits.size());
  auto v = next_token_loss(c.seqs, c.tokens, c.logits.data(), c.V, o, g.data());
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  auto ref_loss = [&] {
    return ref::train_loss(std::vector<double>(c.logits.begin(), c.logits.end()), c.batch, c.V, o);
  };
  EXPECT_NEAR(v->total, ref_loss(), 1e-6 * std::fabs(ref_loss())) << name;
  const test::FdCheck ch = test::check_grad(c.logits.data(), g.data(), g.size(), ref_loss, 1e-3);
  test::report("dlogits " + name, ch);
  EXPECT_LT(ch.rel, 1e-4) << name << ": " << test::describe(ch);
}

TEST(BackwardLoss, ValuesAndGradientsMatchDefinition) {
  LossCase c = make_case();
  LossOptions o;
  expect_loss_matches(c, o, "ce");
  o.ce_weight = 0.0f;
  o.kl_weight = 1.0f;
  o.teacher = c.teacher.data();
  expect_loss_matches(c, o, "kl");
  o.ce_weight = 0.75f;
  o.kl_weight = 0.25f;
  expect_loss_matches(c, o, "mix");
  std::vector<uint8_t> mask(c.tokens.size(), 1);
  mask[0] = mask[3] = mask[7] = 0;
  o.mask = &mask;
  expect_loss_matches(c, o, "mix masked");
}

TEST(BackwardLoss, CountsAndUnusedRows) {
  LossCase c = make_case();
  std::vector<float> g(c.logits.size(), 1.0f);
  auto v = next_token_loss(c.seqs, c.tokens, c.logits.data(), c.V, LossOptions{}, g.data());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->n_ce, 5 + 0 + 3);  // last row of each sequence predicts nothing
  EXPECT_EQ(v->n_kl, 0);
  for (int64_t t : {5, 6, 10}) {  // last rows: zero gradient
    for (int64_t i = 0; i < c.V; ++i) ASSERT_EQ(g[t * c.V + i], 0.0f) << "row " << t;
  }
  // In place: dlogits over the logits gives the same result.
  std::vector<float> inplace = c.logits;
  auto w = next_token_loss(c.seqs, c.tokens, inplace.data(), c.V, LossOptions{}, inplace.data());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->total, v->total);
  EXPECT_EQ(test::max_abs_diff(inplace, g).value, 0.0);
}

TEST(BackwardLoss, KlOfModelAgainstItselfIsZeroWithZeroGradient) {
  auto m = make_random_model(test::tiny_config(2, 4, 2, 6), 8);
  ASSERT_TRUE(m.ok());
  auto fwd = TrainForward::create(*m);
  ASSERT_TRUE(fwd.ok());
  const TokenBatch batch = test::some_batch({12, 7}, m->config.n_vocab);
  ASSERT_TRUE(fwd->forward(batch).ok());
  const std::vector<float> teacher = fwd->logits();
  LossOptions o;
  o.ce_weight = 0.0f;
  o.kl_weight = 1.0f;
  o.teacher = teacher.data();
  Gradients g;
  BackwardOptions bo;
  bo.qo_weights = true;
  auto v = forward_backward(*fwd, batch, o, bo, &g);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->kl, 0.0);
  for (float x : fwd->logits()) ASSERT_EQ(x, 0.0f);  // dL/dlogits
  for (const LayerGradients& lg : g.layers) {
    for (const auto* w : {&lg.wk, &lg.wv, &lg.wq, &lg.wo}) {
      ASSERT_FALSE(w->empty());
      for (float x : *w) ASSERT_EQ(x, 0.0f);
    }
  }
}

TEST(BackwardLoss, BadOptionsAreErrors) {
  LossCase c = make_case();
  std::vector<float> g(c.logits.size());
  auto run = [&](const LossOptions& o, const float* logits = nullptr) {
    return next_token_loss(c.seqs, c.tokens, logits ? logits : c.logits.data(), c.V, o, g.data())
        .status();
  };
  LossOptions o;
  o.kl_weight = 0.5f;
  EXPECT_NE(run(o).message().find("teacher"), std::string::npos);
  o = {};
  o.ce_weight = 0.0f;
  EXPECT_EQ(run(o).code(), ErrorCode::kInvalidArgument);
  o = {};
  o.ce_weight = -1.0f;
  EXPECT_EQ(run(o).code(), ErrorCode::kInvalidArgument);
  std::vector<uint8_t> short_mask(3, 1);
  o = {};
  o.mask = &short_mask;
  EXPECT_NE(run(o).message().find("mask"), std::string::npos);
  std::vector<uint8_t> none(c.tokens.size(), 0);
  o.mask = &none;
  EXPECT_NE(run(o).message().find("no rows"), std::string::npos);
  o = {};
  o.kl_weight = 1.0f;
  o.teacher = g.data();
  EXPECT_NE(run(o).message().find("overwrite the teacher"), std::string::npos);
}

}  // namespace
}  // namespace lrkv
