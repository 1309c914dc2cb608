// The continuous-batching scheduler without HTTP: admission by free slots (the rest queue),
// cancellation frees slots, and batched greedy decoding reproduces single-sequence generation.
#include "serve/scheduler.h"
#include "model/cpu_engine.h"
#include "serve_test_util.h"

namespace lrkv::serve {
namespace {

GenerationRequest greedy_request(const Model& m, const std::string& prompt, int max_tokens) {
  GenerationRequest g;
  g.prompt = m.tokenizer->encode(prompt, true);
  g.max_tokens = max_tokens;
  g.sampling.temperature = 0;
  g.stop_tokens = {m.tokenizer->eos()};
  return g;
}

// Collects a finished stream's text (the request must be done).
StreamUpdate drain(RequestStream& s) {
  StreamUpdate all;
  for (;;) {
    StreamUpdate u = s.wait(std::chrono::milliseconds(0));
    all.text += u.text;
    if (u.done) {
      all.done = true;
      all.reason = u.reason;
      all.usage = u.usage;
      return all;
    }
  }
}

TEST(ServeSchedulerTest, FullCacheQueuesAndEveryRequestCompletes) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  CpuEngine engine(*m);
  Metrics metrics;
  // batch_tokens 3 also forces chunked prefill mixed with decodes.
  auto sched = Scheduler::create(engine, {2, 128, 3, {}}, &metrics);
  ASSERT_TRUE(sched.ok()) << sched.status().to_string();
  const char* prompts[] = {"Once upon a time", "The cat", "Lily and Ben went to", "A big red ball",
                           "Tom was sad"};
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const char* p : prompts) streams.push_back((*sched)->submit(greedy_request(*m, p, 12)));
  EXPECT_EQ(metrics.queued.load(), 5);
  ASSERT_TRUE((*sched)->step());
  EXPECT_EQ(metrics.running.load(), 2);  // two slots: three requests wait, none fails
  EXPECT_EQ(metrics.queued.load(), 3);
  int steps = 1;
  while ((*sched)->step()) ASSERT_LT(++steps, 1000);
  EXPECT_EQ(metrics.running.load(), 0);
  EXPECT_EQ(metrics.queued.load(), 0);
  EXPECT_EQ(metrics.kv_tokens_used.load(), 0);
  EXPECT_EQ(metrics.requests_finished.load(), 5);
  for (size_t i = 0; i < streams.size(); ++i) {
    StreamUpdate u = drain(*streams[i]);
    EXPECT_EQ(u.text, test::reference_greedy(*m, prompts[i], 12)) << prompts[i];
    EXPECT_EQ(u.usage.prompt_tokens,
              static_cast<int>(m->tokenizer->encode(prompts[i], true).size()));
  }
}

TEST(ServeSchedulerTest, CancelFreesTheSlotAtTheNextStep) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  CpuEngine engine(*m);
  Metrics metrics;
  auto sched = Scheduler::create(engine, {1, 256, 64, {}}, &metrics);
  ASSERT_TRUE(sched.ok()) << sched.status().to_string();
  GenerationRequest long_req = greedy_request(*m, "Once upon a time", 200);
  long_req.stop_tokens.clear();
  auto a = (*sched)->submit(long_req);
  auto b = (*sched)->submit(greedy_request(*m, "The cat", 4));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*sched)->step());
  EXPECT_GT(metrics.kv_tokens_used.load(), 0);
  EXPECT_EQ(metrics.queued.load(), 1);  // b waits for the only slot
  a->cancel();
  ASSERT_TRUE((*sched)->step());  // drops a, admits b
  StreamUpdate ua = drain(*a);
  EXPECT_EQ(ua.reason, FinishReason::kCancelled);
  EXPECT_LT(ua.usage.completion_tokens, 200);
  EXPECT_EQ(metrics.requests_cancelled.load(), 1);
  while ((*sched)->step()) {
  }
  EXPECT_EQ(drain(*b).text, test::reference_greedy(*m, "The cat", 4));
  EXPECT_EQ((*sched)->cache().length(0), 0);
}

}  // namespace
}  // namespace lrkv::serve
