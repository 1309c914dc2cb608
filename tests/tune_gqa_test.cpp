// MHA->GQA recovery tuning: distilling the merged model's attention projections from the
// original lowers its KL on held text, leaves the original model's weights untouched, and the
// tuned model stays a standard GQA model that round-trips through GGUF and safetensors with
// identical logits.
#include <cstring>

#include "compress/gqa_merge.h"
#include "io/model_io.h"
#include "compress/tune/gqa_task.h"
#include "tune_test_util.h"

namespace lrkv {
namespace {

// Mean KL(original ‖ merged) over the held batches.
double held_kl(const Model& original, const Model& merged, const std::vector<TokenBatch>& held) {
  auto t = TrainForward::create(original).value();
  auto s = TrainForward::create(merged).value();
  double kl = 0.0;
  for (const TokenBatch& b : held) {
    EXPECT_TRUE(t.forward(b).ok());
    EXPECT_TRUE(s.forward(b).ok());
    LossOptions o;
    o.ce_weight = 0.0f;
    o.kl_weight = 1.0f;
    o.teacher = t.logits().data();
    std::vector<float> d(s.logits().size());
    kl += next_token_loss(s.sequences(), s.tokens(), s.logits().data(), original.config.n_vocab, o,
                          d.data())
              ->kl;
  }
  return kl / held.size();
}

TEST(TuneGqa, RecoveryLowersKlAndKeepsAStandardModel) {
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 4, 8), 31, 4000);
  std::vector<float> wq_before(
      f.model.weights.layers[0].wq.f32(),
      f.model.weights.layers[0].wq.f32() + f.model.weights.layers[0].wq.numel());
  auto merged = merge_kv_heads(f.model, f.calib, 2);
  ASSERT_TRUE(merged.ok()) << merged.status().to_string();
  auto batches = make_token_batches(f.tokens, 32, 4).value();
  const std::vector<TokenBatch> held(batches.end() - 4, batches.end());
  batches.resize(batches.size() - 4);
  const double before = held_kl(f.model, *merged, held);
  auto task = GqaRecoveryTask::create(&*merged);
  ASSERT_TRUE(task.ok()) << task.status().to_string();
  auto teacher = TrainForward::create(f.model).value();
  DistillOptions o;
  o.steps = 120;
  o.adam.lr = 1e-3;
  o.ce_weight = 0.0f;  // i.i.d. random tokens: only the teacher's distribution is worth learning
  o.kl_weight = 1.0f;
  o.progress = false;
  auto r = run_distillation(teacher, **task, batches, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const double after = held_kl(f.model, *merged, held);
  std::printf("[ tune     ] g=2 held KL %.5f -> %.5f\n", before, after);
  EXPECT_LT(after, 0.8 * before);
  EXPECT_EQ(
      0, std::memcmp(wq_before.data(), f.model.weights.layers[0].wq.f32(), wq_before.size() * 4));
  EXPECT_EQ(merged->config.n_kv_head, 2);
  EXPECT_FALSE(merged->compressed());
  const std::vector<int> seq(f.tokens.begin(), f.tokens.begin() + 40);
  const std::vector<float> ref = test::engine_logits(*merged, seq);
  const std::string dir = test::temp_dir();
  for (const char* name : {"/m.gguf", "/m.safetensors"}) {
    ASSERT_TRUE(save_model(*merged, dir + name).ok());
    auto back = load_model(dir + name);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->config.n_kv_head, 2);
    EXPECT_FALSE(back->compressed());
    EXPECT_LT(test::rel_diff(test::engine_logits(*back, seq), ref), 1e-6) << name;
  }
}

}  // namespace
}  // namespace lrkv
