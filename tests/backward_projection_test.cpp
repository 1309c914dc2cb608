// MatryoshkaKV projection gradients (dL/dU_K, dL/dU_V, dL/dmu_V, dL/dmu_K) against central
// finite differences of the fp64 twin, with ranks below head_dim that differ per
// (layer, head, K|V) and change between steps; MHA and GQA.
#include "backward_fd.h"

namespace lrkv {
namespace {

constexpr double kTol = 1e-3;

// Perturbed identity U (not orthogonal: the module must not assume it), random means.
KvProjections random_projections(const LlamaConfig& c, uint64_t seed) {
  KvProjections P = KvProjections::identity(c);
  uint64_t s = seed;
  auto next = [&] {  // uniform in [-1, 1)
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((s >> 40) * (1.0 / (1ull << 23)) - 1.0);
  };
  for (KvHeadProjection& h : P.heads) {
    for (auto* u : {&h.u_k, &h.u_v}) {
      for (float& x : *u) x += 0.4f * next();
    }
    for (auto* m : {&h.mu_k, &h.mu_v}) {
      for (float& x : *m) x = 0.5f * next();
    }
  }
  return P;
}

void set_ranks(KvProjections& P, int step) {
  const int hd = P.head_dim;
  for (size_t i = 0; i < P.heads.size(); ++i) {
    P.heads[i].rank_k = 2 + static_cast<int>((i + step) % (hd - 2));  // 2 .. hd-1
    P.heads[i].rank_v = 1 + static_cast<int>((3 * i + step) % (hd - 1));
  }
}

struct Case {
  const char* name;
  int n_head, n_kv_head, head_dim;
  RopeLayout layout;
};

class BackwardProjection : public ::testing::TestWithParam<Case> {};

TEST_P(BackwardProjection, GradsMatchFiniteDifferences) {
  const Case& k = GetParam();
  LlamaConfig c = test::tiny_config(2, k.n_head, k.n_kv_head, k.head_dim);
  c.rope_layout = k.layout;
  auto m = make_random_model(c, 31);
  ASSERT_TRUE(m.ok());
  test::GradProblem p;
  p.model = std::move(m).value();
  p.batch = test::some_batch({8, 5}, c.n_vocab);
  p.set_mix(0.75f, 0.25f);
  KvProjections P = random_projections(c, 17);
  p.proj = &P;
  for (int step = 0; step < 2; ++step) {  // Matryoshka: ranks re-sampled between steps
    set_ranks(P, step);
    p.run(BackwardOptions{});
    ASSERT_EQ(p.grads.projections.heads.size(), P.heads.size());
    for (int l = 0; l < c.n_layer; ++l) {
      for (int g = 0; g < c.n_kv_head; ++g) {
        KvHeadProjection& w = P.at(l, g);
        const KvHeadProjection& d = p.grads.projections.at(l, g);
        const std::string at = fmt::format("{} step {} L{} head {} (r_k {}, r_v {})", k.name, step,
                                           l, g, w.rank_k, w.rank_v);
        auto loss = [&] { return p.ref_loss(); };
        for (auto [wv, gv, what] :
             {std::tuple{&w.u_k, &d.u_k, "dU_K"}, std::tuple{&w.u_v, &d.u_v, "dU_V"},
              std::tuple{&w.mu_v, &d.mu_v, "dmu_V"}}) {
          const test::FdCheck ch = test::check_grad(wv->data(), gv->data(), wv->size(), loss);
          test::report(at + " " + what, ch);
          EXPECT_LT(ch.rel, kTol) << at << " " << what << ": " << test::describe(ch);
        }
        // Columns beyond the rank are unused: exactly zero gradient.
        for (int i = 0; i < c.head_dim; ++i) {
          for (int col = w.rank_k; col < c.head_dim; ++col)
            ASSERT_EQ(d.u_k[i * c.head_dim + col], 0.0f);
          for (int col = w.rank_v; col < c.head_dim; ++col)
            ASSERT_EQ(d.u_v[i * c.head_dim + col], 0.0f);
        }
        // mu_K shifts every score of a query equally: softmax cancels it, both ways.
        const test::FdCheck ch =
            test::check_grad(w.mu_k.data(), d.mu_k.data(), w.mu_k.size(), loss);
        EXPECT_LT(ch.norm_fd, 1e-9) << at;
        for (float x : d.mu_k) EXPECT_LT(std::fabs(x), 1e-5) << at << " dmu_K";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backward, BackwardProjection,
                         ::testing::Values(Case{"mha_interleaved", 3, 3, 6,
                                                RopeLayout::kInterleaved},
                                           Case{"gqa_halfsplit", 4, 2, 8, RopeLayout::kHalfSplit}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BackwardProjection, FullRankIdentityGivesPlainGradients) {
  auto m = make_random_model(test::tiny_config(2, 4, 2, 6), 5);
  ASSERT_TRUE(m.ok());
  test::GradProblem p;
  p.model = std::move(m).value();
  p.batch = test::some_batch({10}, p.model.config.n_vocab);
  p.run(BackwardOptions{});
  const Gradients plain = p.grads;
  KvProjections P = KvProjections::identity(p.model.config);
  p.proj = &P;
  p.run(BackwardOptions{});
  for (int l = 0; l < 2; ++l) {
    EXPECT_LT(test::max_abs_diff(p.grads.layers[l].wk, plain.layers[l].wk).value, 1e-5);
    EXPECT_LT(test::max_abs_diff(p.grads.layers[l].wv, plain.layers[l].wv).value, 1e-5);
  }
}

}  // namespace
}  // namespace lrkv
