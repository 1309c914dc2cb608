// The training forward/backward on the shared real model (lrkv-mha6): the loss on held-out text
// agrees with its published perplexity, gradients are finite, and (with LRKV_BACKWARD_BENCH=1)
// the time of a 4 x 512-token forward + backward.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "backward_fd.h"
#include "io/model_io.h"
#include "core/thread_pool.h"
#include "model/train/fisher.h"

namespace lrkv {
namespace {

constexpr const char* kModel = "models/lrkv-mha6/model.bin";
constexpr const char* kText = "data/tinystories-valid-head.txt";

std::vector<int> text_tokens(const Model& m, size_t max_chars) {
  std::ifstream in(test::shared_path(kText));
  std::stringstream ss;
  ss << in.rdbuf();
  return m.tokenizer->encode(ss.str().substr(0, max_chars), true);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds of the process (all threads): on a loaded machine, with one thread, a better
// estimate of the uncontended time than the wall clock.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

TEST(BackwardRealModel, LossMatchesPerplexityAndGradsAreFinite) {
  LRKV_REQUIRE_SHARED(kModel);
  LRKV_REQUIRE_SHARED(kText);
  auto m = load_model(test::shared_path(kModel));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_NE(m->tokenizer, nullptr);
  const bool bench = std::getenv("LRKV_BACKWARD_BENCH") != nullptr;
  const int n_seq = bench ? 4 : 1, ctx = bench ? 512 : 128;
  auto batches = make_token_batches(text_tokens(*m, 20000), ctx, n_seq, 1);
  ASSERT_TRUE(batches.ok()) << batches.status().to_string();
  auto fwd = TrainForward::create(*m);
  ASSERT_TRUE(fwd.ok());
  Gradients g;
  BackwardOptions o;
  o.qo_weights = true;
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  auto v = forward_backward(*fwd, (*batches)[0], LossOptions{}, o, &g);
  const double secs = seconds_since(t0), cpu = cpu_seconds() - c0;
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  // Held-out TinyStories perplexity of this model is ~30.7 at window 512 (train.json): ln ≈ 3.4.
  EXPECT_GT(v->ce, 2.0);
  EXPECT_LT(v->ce, 5.0);
  for (const LayerGradients& lg : g.layers) {
    for (const auto* w : {&lg.wk, &lg.wv, &lg.wq, &lg.wo}) {
      double ss = 0.0;
      for (float x : *w) ss += static_cast<double>(x) * x;
      EXPECT_TRUE(std::isfinite(ss) && ss > 0.0);
    }
  }
  std::printf(
      "[ speed    ] lrkv-mha6 forward+backward %d x %d tokens (W_q,k,v,o grads): %.3f s wall, %.3f "
      "s CPU, CE "
      "%.6f (ppl %.3f), %d threads\n",
      n_seq, ctx, secs, cpu, v->ce, std::exp(v->ce), global_pool().size());
  if (!bench) return;
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(fwd->forward((*batches)[0]).ok());
  const double t_fwd = seconds_since(t1);
  t1 = std::chrono::steady_clock::now();
  float* logits = fwd->logits().data();
  ASSERT_TRUE(
      next_token_loss(fwd->sequences(), fwd->tokens(), logits, m->config.n_vocab, {}, logits).ok());
  const double t_loss = seconds_since(t1);
  t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(fwd->backward(logits, BackwardOptions{}, &g).ok());
  std::printf("[ speed    ] forward %.3f s, loss %.3f s, backward (W_k, W_v grads) %.3f s\n", t_fwd,
              t_loss, seconds_since(t1));
}

}  // namespace
}  // namespace lrkv
