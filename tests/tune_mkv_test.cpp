// MatryoshkaKV tuning on tiny random models: the task's gradient through the Cayley map matches
// fp64 finite differences of the training loss; the Matryoshka loss decreases; the exported
// full-rank model equals the training forward at every truncation (engine vs TrainForward),
// survives a GGUF round trip, at A = 0 equals compress_model's mkv-pca factors, and is what the
// greedy-KL planner searches over.
#include <filesystem>

#include "backward_fd.h"
#include "compress/methods.h"
#include "io/model_io.h"
#include "compress/compressor.h"
#include "compress/planners/run_planner.h"
#include "compress/truncate.h"
#include "compress/tune/cayley.h"
#include "compress/tune/mkv_export.h"
#include "compress/tune/mkv_task.h"
#include "model/latent_layer.h"
#include "tune_test_util.h"

namespace lrkv {
namespace {

std::unique_ptr<MkvTask> make_task(const test::TuneFixture& f, std::vector<int> set,
                                   uint64_t seed = 1) {
  auto init = mkv_pca_projections(f.calib, f.model.config);
  EXPECT_TRUE(init.ok()) << init.status().to_string();
  auto t = MkvTask::create(f.model, *init, seed, std::move(set));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

TEST(TuneMkv, PcaInitIsOrthogonalWithDetOne) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 2, 8), 3);
  auto P = mkv_pca_projections(f.calib, f.model.config);
  ASSERT_TRUE(P.ok());
  for (const KvHeadProjection& h : P->heads) {
    for (const auto* u : {&h.u_k, &h.u_v}) {
      Mat U(8, 8);
      for (size_t i = 0; i < u->size(); ++i) U.a[i] = (*u)[i];
      EXPECT_LT(orthogonality_error(U), 1e-6);
      EXPECT_NEAR(determinant(U).value(), 1.0, 1e-5);
    }
  }
}

TEST(TuneMkv, GradientThroughCayleyMatchesFiniteDifferences) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 2, 6), 5);
  const LlamaConfig& c = f.model.config;
  auto task =
      make_task(f, {2, 3, 4, 5}, 9);  // below full rank: there U's rotations cancel (zero dL/dA)
  std::vector<ParamRef> params = task->params();
  uint64_t s = 77;
  for (ParamRef& p : params) {  // random skew A (entries ±0.2), keep means
    if (p.name.find(".a_") == std::string::npos) continue;
    for (int i = 0; i < c.head_dim; ++i) {
      for (int j = i + 1; j < c.head_dim; ++j) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p.value[i * c.head_dim + j] =
            0.4f * static_cast<float>((s >> 40) * (1.0 / (1ull << 24))) - 0.2f;
        p.value[j * c.head_dim + i] = -p.value[i * c.head_dim + j];
      }
    }
  }
  ASSERT_TRUE(task->after_update().ok());
  ASSERT_TRUE(task->prepare_step(3).ok());
  const TokenBatch batch = test::some_batch({9, 6}, c.n_vocab);
  auto teacher = TrainForward::create(f.model).value();
  ASSERT_TRUE(teacher.forward(batch).ok());
  const std::vector<float> tl = teacher.logits();
  LossOptions lo;
  lo.ce_weight = 0.75f;
  lo.kl_weight = 0.25f;
  lo.teacher = tl.data();
  Gradients grads;
  ASSERT_TRUE(task->student().forward(batch).ok());
  ASSERT_TRUE(task->student().loss_backward(lo, &teacher, task->backward_options(), &grads).ok());
  ASSERT_TRUE(task->collect_gradients(grads).ok());
  auto ref_loss = [&] {
    EXPECT_TRUE(task->after_update().ok());
    return ref::train_loss(ref::train_logits(f.model, &task->projections(), batch), batch,
                           c.n_vocab, lo);
  };
  const int hd = c.head_dim;
  for (ParamRef& p : params) {
    if (p.name.find(".a_") == std::string::npos && p.name.find(".mu_v") == std::string::npos)
      continue;
    test::FdCheck ch;
    if (p.name.find(".mu_v") != std::string::npos) {
      ch = test::check_grad(p.value, p.grad, p.n, ref_loss);
    } else {
      for (int i = 0; i < hd; ++i) {
        for (int j = i + 1; j < hd; ++j) {  // skew move: A_ij += e, A_ji −= e
          float* a = p.value + i * hd + j;
          float* b = p.value + j * hd + i;
          const float a0 = *a, ap = static_cast<float>(a0 + 1e-3),
                      am = static_cast<float>(a0 - 1e-3);
          *a = ap, *b = -ap;
          const double lp = ref_loss();
          *a = am, *b = -am;
          const double lm = ref_loss();
          *a = a0, *b = -a0;
          ch.add(i * hd + j, 2.0 * p.grad[i * hd + j], (lp - lm) / (static_cast<double>(ap) - am));
        }
      }
    }
    test::report(p.name, ch);
    EXPECT_LT(ch.rel, 2e-3) << p.name << ": " << test::describe(ch);
  }
}

// Loss at fixed ranks (every head keeps r of 16 dimensions) before and after `steps` of training
// with ranks sampled from {2, 4, ..., 16}; on training batches and on held ones.
struct FixedRankLosses {
  LossValue train4, train8, held4, held8;
};

FixedRankLosses fixed_rank_losses(const test::TuneFixture& f, const MkvTask& task,
                                  const std::vector<TokenBatch>& train,
                                  const std::vector<TokenBatch>& held) {
  auto at = [&](int r, const std::vector<TokenBatch>& b) {
    KvProjections P = task.full_rank_projections();
    for (KvHeadProjection& h : P.heads) h.rank_k = h.rank_v = r;
    return test::projected_loss(f.model, P, b);
  };
  const std::vector<TokenBatch> some(train.begin(), train.begin() + 6);
  return {at(4, some), at(8, some), at(4, held), at(8, held)};
}

TEST(TuneMkv, MatryoshkaLossDecreasesOnATinyModel) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 2, 16), 7, 4000);
  for (const bool kl_only : {false, true}) {
    auto task = make_task(f, matryoshka_rank_set(16));
    auto batches = make_token_batches(f.tokens, 32, 4).value();
    const std::vector<TokenBatch> held(batches.end() - 4, batches.end());
    batches.resize(batches.size() - 4);
    const FixedRankLosses before = fixed_rank_losses(f, *task, batches, held);
    auto teacher = TrainForward::create(f.model).value();
    DistillOptions o;
    o.steps = 120;
    o.adam.lr = 5e-3;
    o.progress = false;
    if (kl_only) o.ce_weight = 0.0f, o.kl_weight = 1.0f;
    auto report = run_distillation(teacher, *task, batches, o);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    const FixedRankLosses after = fixed_rank_losses(f, *task, batches, held);
    std::printf(
        "[ tune     ] %s: train loss %.4f -> %.4f | fixed ranks, training batches: r4 %.4f -> %.4f "
        "(KL %.4f -> "
        "%.4f), r8 %.4f -> %.4f | held: r4 %.4f -> %.4f (KL %.4f -> %.4f), r8 %.4f -> %.4f (KL "
        "%.4f -> %.4f)\n",
        kl_only ? "KL only" : "0.75 CE + 0.25 KL", report->mean_total(0, 20),
        report->mean_total(100, 120), before.train4.total, after.train4.total, before.train4.kl,
        after.train4.kl, before.train8.total, after.train8.total, before.held4.total,
        after.held4.total, before.held4.kl, after.held4.kl, before.held8.total, after.held8.total,
        before.held8.kl, after.held8.kl);
    EXPECT_LT(report->mean_total(100, 120), report->mean_total(0, 20));
    EXPECT_LT(after.train4.total, before.train4.total);
    EXPECT_LT(after.train8.total, before.train8.total);
    if (kl_only) {  // the distilled target generalises: held KL drops at every rank
      EXPECT_LT(after.held4.kl, 0.9 * before.held4.kl);
      EXPECT_LT(after.held8.kl, 0.9 * before.held8.kl);
    }
    for (const KvHeadProjection& h : task->projections().heads) {  // still orthogonal
      Mat U(16, 16);
      for (size_t i = 0; i < h.u_k.size(); ++i) U.a[i] = h.u_k[i];
      EXPECT_LT(orthogonality_error(U), 1e-5);
    }
  }
}

TEST(TuneMkv, ExportedModelMatchesTheTrainingForwardAtEveryPrefix) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 2, 8), 11);
  const LlamaConfig& c = f.model.config;
  auto task = make_task(f, {2, 4, 6, 8});
  auto teacher = TrainForward::create(f.model).value();
  DistillOptions o;
  o.steps = 15;
  o.adam.lr = 2e-2;
  o.progress = false;
  ASSERT_TRUE(
      run_distillation(teacher, *task, make_token_batches(f.tokens, 32, 2).value(), o).ok());
  auto full = mkv_model(f.model, task->full_rank_projections(), "{}");
  ASSERT_TRUE(full.ok()) << full.status().to_string();
  const std::string path = test::temp_dir() + "/mkv.gguf";
  ASSERT_TRUE(save_model(*full, path).ok());
  auto loaded = load_model(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const std::vector<int> seq(f.tokens.begin(), f.tokens.begin() + 40);
  for (int r : {1, 3, 4, 8}) {
    auto plan = uniform_plan(c, "mkv", "head", r / 8.0);
    ASSERT_TRUE(plan.ok());
    auto cut = truncate_to_plan(*loaded, *plan);
    ASSERT_TRUE(cut.ok()) << cut.status().to_string();
    KvProjections P = task->full_rank_projections();
    for (KvHeadProjection& h : P.heads) h.rank_k = h.rank_v = r;
    auto fwd = TrainForward::create(f.model).value();
    ASSERT_TRUE(fwd.set_projections(&P).ok());
    ASSERT_TRUE(fwd.forward({seq}).ok());
    const double d = test::rel_diff(test::engine_logits(*cut, seq), fwd.logits());
    EXPECT_LT(d, 2e-5) << "rank " << r;
  }
}

TEST(TuneMkv, UntrainedExportEqualsMkvPca) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 4, 8), 13);
  auto task = make_task(f, {4, 8});
  auto full = mkv_model(f.model, task->full_rank_projections(), "");
  ASSERT_TRUE(full.ok());
  auto plan = uniform_plan(f.model.config, "mkv", "head", 0.5).value();
  auto cut = truncate_to_plan(*full, plan);
  ASSERT_TRUE(cut.ok());
  plan.method = "mkv-pca";
  auto pca = compress_model(f.model, plan, &f.calib);
  ASSERT_TRUE(pca.ok());
  const std::vector<int> seq(f.tokens.begin(), f.tokens.begin() + 30);
  EXPECT_LT(test::rel_diff(test::engine_logits(*cut, seq), test::engine_logits(*pca, seq)), 1e-5);
  EXPECT_FALSE(mkv_model(*pca, task->full_rank_projections(), "").ok());  // already compressed
}

TEST(TuneMkv, GreedyKlPlannerSearchesTheTunedModel) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 2, 8), 17);
  auto task = make_task(f, {2, 4, 6, 8});
  auto teacher = TrainForward::create(f.model).value();
  DistillOptions o;
  o.steps = 5;
  o.progress = false;
  ASSERT_TRUE(
      run_distillation(teacher, *task, make_token_batches(f.tokens, 32, 2).value(), o).ok());
  auto full = mkv_model(f.model, task->full_rank_projections(), "");
  ASSERT_TRUE(full.ok());
  PlannerInputs in;
  in.model = &*full;
  in.method = "mkv";
  in.granularity = "head";
  in.planner = "greedy-kl";
  in.budget = 0.5;
  in.greedy.tokens = f.tokens;
  in.greedy.ctx = 32;
  in.greedy.n_windows = 2;
  in.greedy.progress = false;
  auto plan = run_planner(in);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_NEAR(plan->kept_fraction(f.model.config), 0.5, 1e-9);
  auto cut = compress_model(*full, *plan, nullptr);  // reuses the tuned factors
  ASSERT_TRUE(cut.ok()) << cut.status().to_string();
  EXPECT_EQ(model_rank_plan(*cut)->latent_values_per_token(), plan->latent_values_per_token());
  plan->method = "mkv-pca";
  auto wrong = compress_model(*full, *plan, &f.calib);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("already compressed with mkv"), std::string::npos);
}

}  // namespace
}  // namespace lrkv
