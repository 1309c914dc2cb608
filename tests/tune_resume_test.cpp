// Distillation checkpoints: a run interrupted and resumed from its checkpoint ends with exactly
// the parameters and loss history of the uninterrupted run; resuming refuses checkpoints of
// another task kind or model, and a missing file, with one-line errors.
#include <filesystem>

#include "compress/tune/mkv_task.h"
#include "tune_test_util.h"

namespace lrkv {
namespace {

struct Run {
  std::vector<std::vector<float>> params;
  std::vector<LossValue> losses;
};

Result<Run> train(const test::TuneFixture& f, const DistillOptions& o) {
  LRKV_ASSIGN_OR_RETURN(KvProjections init, mkv_pca_projections(f.calib, f.model.config));
  const std::vector<int> set = {2, 4, 6, 8};
  LRKV_ASSIGN_OR_RETURN(auto task, MkvTask::create(f.model, init, o.seed, set));
  LRKV_ASSIGN_OR_RETURN(TrainForward teacher, TrainForward::create(f.model));
  LRKV_ASSIGN_OR_RETURN(auto batches, make_token_batches(f.tokens, 24, 2));
  LRKV_ASSIGN_OR_RETURN(DistillReport r, run_distillation(teacher, *task, batches, o));
  Run out;
  out.losses = r.losses;
  for (const ParamRef& p : task->params()) out.params.emplace_back(p.value, p.value + p.n);
  return out;
}

DistillOptions options(const std::string& ckpt, int64_t steps) {
  DistillOptions o;
  o.steps = steps;
  o.adam.lr = 1e-2;
  o.warmup = 2;  // constant after warm-up: the "interrupted" run has fewer total steps
  o.min_lr_ratio = 1.0;
  o.checkpoint = ckpt;
  o.checkpoint_every = 2;
  o.progress = false;
  o.seed = 4;
  return o;
}

TEST(TuneResume, ResumedRunEqualsUninterruptedRun) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 2, 8), 21, 600);
  const std::string dir = test::temp_dir();
  auto whole = train(f, options(dir + "/a.safetensors", 7));
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  auto first = train(f, options(dir + "/b.safetensors", 3));  // "interrupted" after 3 steps
  ASSERT_TRUE(first.ok());
  DistillOptions o = options(dir + "/b.safetensors", 7);
  o.resume = true;
  auto rest = train(f, o);
  ASSERT_TRUE(rest.ok()) << rest.status().to_string();
  ASSERT_EQ(rest->losses.size(), 7u);
  for (size_t i = 0; i < 7; ++i)
    EXPECT_EQ(rest->losses[i].total, whole->losses[i].total) << "step " << i;
  ASSERT_EQ(rest->params.size(), whole->params.size());
  for (size_t i = 0; i < whole->params.size(); ++i)
    EXPECT_EQ(rest->params[i], whole->params[i]) << "param " << i;
  // The checkpoint is a plain safetensors file with the step recorded.
  auto c = load_checkpoint(dir + "/b.safetensors");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->meta_int("lrkv.tune.step").value(), 7);
  EXPECT_EQ(c->meta("lrkv.tune.kind").value(), "mkv");
}

TEST(TuneResume, RefusesForeignOrMissingCheckpoints) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 2, 8), 23, 400);
  const std::string dir = test::temp_dir();
  DistillOptions o = options(dir + "/missing.safetensors", 3);
  o.resume = true;
  auto r = train(f, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing.safetensors"), std::string::npos)
      << r.status().to_string();
  // A checkpoint of another model's shapes.
  const test::TuneFixture g = test::make_tune_fixture(test::tiny_config(3, 4, 2, 8), 23, 400);
  ASSERT_TRUE(train(g, options(dir + "/g.safetensors", 2)).ok());
  o.checkpoint = dir + "/g.safetensors";
  r = train(f, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("layers=3"), std::string::npos) << r.status().to_string();
  // Another task kind.
  auto c = load_checkpoint(dir + "/g.safetensors").value();
  c.metadata["lrkv.tune.kind"] = "gqa";
  ASSERT_TRUE(save_checkpoint(c, dir + "/k.safetensors").ok());
  o.checkpoint = dir + "/k.safetensors";
  r = train(g, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'gqa'"), std::string::npos) << r.status().to_string();
  // Not a checkpoint at all.
  ASSERT_TRUE(save_checkpoint(Checkpoint{}, dir + "/e.safetensors").ok());
  test::expect_error(load_checkpoint(dir + "/e.safetensors").status(), ErrorCode::kCorruptFile,
                     {"e.safetensors"});
}

}  // namespace
}  // namespace lrkv
