// fisher_information (Palu's Fisher importance): shapes, non-negativity, determinism, agreement
// with sqrt(mean of squared per-batch gradients) computed by hand, group means, bad inputs.
#include <cmath>

#include "backward_fd.h"
#include "model/train/fisher.h"

namespace lrkv {
namespace {

class BackwardFisher : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = make_random_model(test::tiny_config(3, 8, 4, 4), 13);
    ASSERT_TRUE(m.ok());
    model_ = std::move(m).value();
    std::vector<int> stream;
    for (int i = 0; i < 100; ++i)
      stream.push_back((i * 53 + i * i * 5 + 7) % model_.config.n_vocab);
    auto b = make_token_batches(stream, 12, 2, 3);
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    batches_ = std::move(b).value();
  }
  Model model_;
  std::vector<TokenBatch> batches_;
};

TEST_F(BackwardFisher, ShapesAndNonNegative) {
  ASSERT_EQ(batches_.size(), 3u);
  EXPECT_EQ(batches_[0].size(), 2u);
  EXPECT_EQ(batches_[0][0].size(), 12u);
  FisherOptions o;
  o.heads_per_group = 2;
  o.progress = false;
  auto f = fisher_information(model_, batches_, o);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  const LlamaConfig& c = model_.config;
  EXPECT_EQ(f->n_batches, 3);
  EXPECT_EQ(f->n_tokens, 3 * 2 * 12);
  EXPECT_GT(f->mean_loss, 0.0);
  ASSERT_EQ(f->layers.size(), static_cast<size_t>(c.n_layer));
  for (const LayerFisher& lf : f->layers) {
    ASSERT_EQ(lf.wk.size(), static_cast<size_t>(c.kv_dim()) * c.d_model);
    ASSERT_EQ(lf.wv.size(), lf.wk.size());
    ASSERT_EQ(lf.k_group.size(), 2u);
    ASSERT_EQ(lf.v_group.size(), 2u);
    for (float x : lf.wk) ASSERT_TRUE(x >= 0.0f && std::isfinite(x));
    for (float x : lf.wv) ASSERT_TRUE(x >= 0.0f && std::isfinite(x));
    EXPECT_GT(lf.k_mean, 0.0);
    EXPECT_GT(lf.v_mean, 0.0);
    EXPECT_NEAR(lf.k_mean, (lf.k_group[0] + lf.k_group[1]) / 2, 1e-12);
    // Group 1 = rows [2·head_dim, 4·head_dim).
    const int64_t d = c.d_model, r0 = 2 * c.head_dim, r1 = 4 * c.head_dim;
    double s = 0.0;
    for (int64_t i = r0 * d; i < r1 * d; ++i) s += lf.wv[i];
    EXPECT_NEAR(lf.v_group[1], s / ((r1 - r0) * d), 1e-6 * lf.v_group[1]);
  }
}

TEST_F(BackwardFisher, DeterministicAndEqualsRootMeanSquareOfBatchGradients) {
  FisherOptions o;
  o.progress = false;
  auto a = fisher_information(model_, batches_, o);
  auto b = fisher_information(model_, batches_, o);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int l = 0; l < model_.config.n_layer; ++l) {
    EXPECT_EQ(a->layers[l].wk, b->layers[l].wk);
    EXPECT_EQ(a->layers[l].wv, b->layers[l].wv);
    EXPECT_EQ(a->layers[l].k_group.size(), static_cast<size_t>(model_.config.n_kv_head));
  }
  // By hand: sqrt(mean over batches of (dL/dW_k)²) for layer 1.
  auto fwd = TrainForward::create(model_);
  ASSERT_TRUE(fwd.ok());
  std::vector<double> acc(a->layers[1].wk.size(), 0.0);
  for (const TokenBatch& batch : batches_) {
    Gradients g;
    ASSERT_TRUE(forward_backward(*fwd, batch, LossOptions{}, BackwardOptions{}, &g).ok());
    for (size_t i = 0; i < acc.size(); ++i)
      acc[i] += static_cast<double>(g.layers[1].wk[i]) * g.layers[1].wk[i];
  }
  for (size_t i = 0; i < acc.size(); ++i) {
    ASSERT_NEAR(a->layers[1].wk[i], std::sqrt(acc[i] / 3), 1e-5 * std::sqrt(acc[i] / 3) + 1e-12)
        << i;
  }
}

TEST_F(BackwardFisher, BadInputsAreErrors) {
  FisherOptions o;
  o.progress = false;
  EXPECT_EQ(fisher_information(model_, {}, o).status().code(), ErrorCode::kInvalidArgument);
  o.heads_per_group = 3;  // 4 KV heads
  EXPECT_NE(fisher_information(model_, batches_, o).status().message().find("groups of 3"),
            std::string::npos);
  o.heads_per_group = 1;
  const std::vector<TokenBatch> singles = {{{5}, {6}}};
  EXPECT_NE(fisher_information(model_, singles, o).status().message().find("batch 0"),
            std::string::npos);
  EXPECT_FALSE(make_token_batches({1, 2, 3}, 4, 1).ok());
  EXPECT_FALSE(make_token_batches({1, 2, 3, 4}, 1, 1).ok());
  auto all = make_token_batches(std::vector<int>(50, 3), 10, 2);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);  // 5 windows: 2 + 2 + 1
  EXPECT_EQ(all->back().size(), 1u);
}

}  // namespace
}  // namespace lrkv
