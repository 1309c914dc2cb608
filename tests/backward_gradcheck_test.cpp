// Gradients of the fp32 training backward against central finite differences of the fp64 twin
// (ref_train.h): weights of every layer (W_k, W_v, W_q, W_o, biases) and activations at the named
// points, for CE, KL and the MatryoshkaKV mix, over MHA/GQA/MQA, both RoPE layouts, biases and
// Llama-3 frequency scaling.
#include "backward_fd.h"

namespace lrkv {
namespace {

// fp32 backward vs fp64 central differences: observed errors are ~1e-6..1e-5 (see the printed
// [ fd ] lines); 1e-3 leaves room for other BLAS builds and thread counts.
constexpr double kTol = 1e-3;

struct Variant {
  const char* name;
  int n_layer, n_head, n_kv_head, head_dim;
  RopeLayout layout;
  bool tied, bias, llama3;
};

test::GradProblem make_problem(const Variant& v) {
  LlamaConfig c = test::tiny_config(v.n_layer, v.n_head, v.n_kv_head, v.head_dim);
  c.rope_layout = v.layout;
  c.tied_embeddings = v.tied;
  c.qkv_bias = v.bias;
  if (v.bias) c.arch = "qwen2";
  if (v.llama3) {
    c.rope_theta = 500000.0f;
    c.rope_scaling = {true, 8.0f, 1.0f, 4.0f, 32};
  }
  auto m = make_random_model(c, 21);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  test::GradProblem p;
  p.model = std::move(m).value();
  p.batch = test::some_batch({9, 6}, c.n_vocab);
  return p;
}

// Checks a weight gradient at every `stride`-th element; `name` for messages.
void expect_weight_grad(test::GradProblem& p, Tensor& w, const std::vector<float>& g,
                        const std::string& name, size_t stride = 2) {
  ASSERT_EQ(static_cast<int64_t>(g.size()), w.numel()) << name;
  const test::FdCheck c = test::check_grad(
      w.f32(), g.data(), g.size(), [&] { return p.ref_loss(); }, 1e-3, stride);
  test::report(name, c);
  EXPECT_LT(c.rel, kTol) << name << ": " << test::describe(c);
}

class BackwardGradCheck : public ::testing::TestWithParam<Variant> {};

TEST_P(BackwardGradCheck, AttentionWeightGradsCrossEntropy) {
  test::GradProblem p = make_problem(GetParam());
  BackwardOptions o;
  o.qo_weights = true;
  p.run(o);
  const std::string tag = GetParam().name;
  for (int l = 0; l < p.model.config.n_layer; ++l) {
    LayerWeights& w = p.model.weights.layers[l];
    const LayerGradients& g = p.grads.layers[l];
    const std::string at = tag + " L" + std::to_string(l);
    expect_weight_grad(p, w.wk, g.wk, at + " dW_k");
    expect_weight_grad(p, w.wv, g.wv, at + " dW_v");
    expect_weight_grad(p, w.wq, g.wq, at + " dW_q");
    expect_weight_grad(p, w.wo, g.wo, at + " dW_o");
    if (p.model.config.qkv_bias) {
      expect_weight_grad(p, w.bq, g.bq, at + " db_q");
      expect_weight_grad(p, w.bk, g.bk, at + " db_k");
      expect_weight_grad(p, w.bv, g.bv, at + " db_v");
    }
  }
}

TEST_P(BackwardGradCheck, KvWeightGradsMatryoshkaMixAndKl) {
  test::GradProblem p = make_problem(GetParam());
  for (auto [ce, kl] : {std::pair{0.75f, 0.25f}, std::pair{0.0f, 1.0f}}) {
    p.set_mix(ce, kl);
    p.run(BackwardOptions{});
    EXPECT_TRUE(p.grads.layers[0].wq.empty());  // not requested
    const std::string tag = std::string(GetParam().name) + (ce > 0 ? " mix" : " kl");
    for (int l = 0; l < p.model.config.n_layer; ++l) {
      LayerWeights& w = p.model.weights.layers[l];
      expect_weight_grad(p, w.wk, p.grads.layers[l].wk, tag + " L" + std::to_string(l) + " dW_k",
                         3);
      expect_weight_grad(p, w.wv, p.grads.layers[l].wv, tag + " L" + std::to_string(l) + " dW_v",
                         3);
    }
  }
}

TEST_P(BackwardGradCheck, ActivationGrads) {
  test::GradProblem p = make_problem(GetParam());
  p.set_mix(0.75f, 0.25f);
  p.run(BackwardOptions{});
  const int last = p.model.config.n_layer - 1;
  const HookPoint points[] = {HookPoint::kKvInput,    HookPoint::kKPostRope, HookPoint::kKPreRope,
                              HookPoint::kV,          HookPoint::kQPostRope, HookPoint::kQPreRope,
                              HookPoint::kAttnOutput, HookPoint::kAttnInput, HookPoint::kFfnInput};
  for (int l : {0, last}) {
    for (HookPoint pt : points) {
      const std::string name =
          std::string(GetParam().name) + " L" + std::to_string(l) + " d" + hook_point_name(pt);
      const test::FdCheck c = p.check_act(l, pt, 1e-4, 3);
      test::report(name, c);
      EXPECT_LT(c.rel, kTol) << name << ": " << test::describe(c);
    }
  }
  const test::FdCheck c = p.check_act(-1, HookPoint::kFinalHidden, 1e-4, 3);
  test::report(std::string(GetParam().name) + " dfinal_hidden", c);
  EXPECT_LT(c.rel, kTol) << test::describe(c);
}

// Sequences longer than the attention's row block (128): several blocks, partial last block.
TEST(BackwardGradCheck, LongSequencesAcrossRowBlocks) {
  test::GradProblem p =
      make_problem({"long_gqa", 2, 4, 2, 6, RopeLayout::kHalfSplit, false, false, false});
  p.batch = test::some_batch({200, 129}, p.model.config.n_vocab);
  p.set_mix(0.75f, 0.25f);
  p.run(BackwardOptions{});
  expect_weight_grad(p, p.model.weights.layers[0].wk, p.grads.layers[0].wk, "long L0 dW_k", 29);
  expect_weight_grad(p, p.model.weights.layers[1].wv, p.grads.layers[1].wv, "long L1 dW_v", 29);
  for (HookPoint pt : {HookPoint::kKPostRope, HookPoint::kV, HookPoint::kQPostRope}) {
    const test::FdCheck c = p.check_act(1, pt, 1e-4, 211);
    test::report(std::string("long L1 d") + hook_point_name(pt), c);
    EXPECT_LT(c.rel, kTol) << hook_point_name(pt) << ": " << test::describe(c);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Backward, BackwardGradCheck,
    ::testing::Values(
        Variant{"mha_interleaved_tied", 3, 4, 4, 6, RopeLayout::kInterleaved, true, false, false},
        Variant{"gqa_halfsplit", 3, 6, 2, 4, RopeLayout::kHalfSplit, false, false, false},
        Variant{"gqa_bias_halfsplit", 2, 4, 2, 8, RopeLayout::kHalfSplit, false, true, false},
        Variant{"gqa_llama3_interleaved", 2, 4, 2, 6, RopeLayout::kInterleaved, false, false, true},
        Variant{"mqa_bias_interleaved", 2, 4, 1, 6, RopeLayout::kInterleaved, true, true, false}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace lrkv
