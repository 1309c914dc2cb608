// The continuous-batching scheduler without HTTP: admission by free slots (the rest queue),
// cancellation frees slots, and batched greedy decoding reproduces single-sequence generation;
// on a paged cache: admission by free blocks, preemption with recompute, prefix sharing.
#include "serve/scheduler.h"
#include "model/cpu_engine.h"
#include "model/generate.h"
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

TEST(ServePagedTest, AFullCachePreemptsTheNewestAndItsRecomputedOutputIsUnchanged) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  CpuEngine engine(*m);
  Metrics metrics;
  // 16 blocks of 4 tokens = 64 tokens for 6 sequences that grow to ~40 tokens each.
  auto sched = Scheduler::create(engine, {6, 64, 16, test::paged_spec(16, 4)}, &metrics);
  ASSERT_TRUE(sched.ok()) << sched.status().to_string();
  const char* prompts[] = {"Once upon a time", "The cat", "Lily and Ben went to", "A big red ball",
                           "Tom was sad", "One day, a little girl"};
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const char* p : prompts) {
    GenerationRequest g = greedy_request(*m, p, 30);
    g.stop_tokens.clear();  // every request grows to its max_tokens
    streams.push_back((*sched)->submit(g));
  }
  int steps = 0;
  int64_t most_used = 0;
  while ((*sched)->step()) {
    ASSERT_LT(++steps, 5000);
    EXPECT_LE(metrics.kv_blocks_used.load(), 16);
    most_used = std::max<int64_t>(most_used, metrics.kv_blocks_used.load());
  }
  EXPECT_GT(metrics.preemptions_total.load(), 0);
  EXPECT_GT(metrics.recomputed_tokens_total.load(), 0);
  EXPECT_EQ(most_used, 16);  // the cache was full, and nothing failed for it
  EXPECT_EQ(metrics.requests_finished.load(), 6);
  EXPECT_EQ(metrics.requests_failed.load(), 0);
  EXPECT_EQ(metrics.kv_blocks_used.load(), 0);
  for (size_t i = 0; i < streams.size(); ++i) {
    StreamUpdate u = drain(*streams[i]);
    EXPECT_EQ(u.reason, FinishReason::kLength);
    EXPECT_EQ(u.usage.completion_tokens, 30);
    EXPECT_EQ(u.text, test::reference_greedy(*m, prompts[i], 30)) << prompts[i];
  }
}

TEST(ServePagedTest, AdmissionGoesByFreeBlocksNotSlots) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  CpuEngine engine(*m);
  Metrics metrics;
  // 8 slots, but 12 blocks of 4 tokens: two 20-token prompts fill 10; the third waits.
  auto sched = Scheduler::create(engine, {8, 48, 64, test::paged_spec(12, 4)}, &metrics);
  ASSERT_TRUE(sched.ok()) << sched.status().to_string();
  GenerationRequest g = greedy_request(*m, "Once upon a time there was a girl named Lily. She liked to play", 4);
  g.prompt.resize(20);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 3; ++i) {
    g.prompt[19] = 100 + i;  // different last tokens: prefixes shared, prompts not equal
    streams.push_back((*sched)->submit(g));
  }
  ASSERT_TRUE((*sched)->step());
  EXPECT_EQ(metrics.running.load(), 2);
  EXPECT_EQ(metrics.queued.load(), 1);
  while ((*sched)->step()) {
  }
  for (auto& s : streams) EXPECT_EQ(drain(*s).reason, FinishReason::kLength);
  EXPECT_EQ(metrics.preemptions_total.load(), 0);
}

TEST(ServePagedTest, IdenticalPromptPrefixesShareBlocksAndKeepTheirOutput) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  CpuEngine engine(*m);
  Metrics metrics;
  auto sched = Scheduler::create(engine, {4, 128, 64, test::paged_spec(64, 4)}, &metrics);
  ASSERT_TRUE(sched.ok()) << sched.status().to_string();
  const std::string system = "Once upon a time there was a little girl named Lily. She loved to ";
  const std::string a = system + "play", b = system + "sing";
  auto first = (*sched)->submit(greedy_request(*m, a, 8));
  while ((*sched)->step()) {
  }
  EXPECT_EQ(metrics.prefix_cached_tokens_total.load(), 0);
  EXPECT_GT(metrics.kv_blocks_cached.load(), 0);  // kept after the request ended
  // Later requests map the cached prompt blocks (the shared part is a multiple of 4 tokens).
  auto again = (*sched)->submit(greedy_request(*m, a, 8));
  auto other = (*sched)->submit(greedy_request(*m, b, 8));
  while ((*sched)->step()) {
  }
  const int64_t n_sys = static_cast<int64_t>(m->tokenizer->encode(system, true).size());
  EXPECT_GE(metrics.prefix_cached_tokens_total.load(), 2 * (n_sys / 4) * 4 - 8);
  EXPECT_EQ(drain(*first).text, test::reference_greedy(*m, a, 8));
  EXPECT_EQ(drain(*again).text, test::reference_greedy(*m, a, 8));
  EXPECT_EQ(drain(*other).text, test::reference_greedy(*m, b, 8));
}

// A finished request's generated tokens stay cached too: the next turn of a chat, which resends
// the answer after the prompt, maps the answer's full blocks instead of recomputing them.
TEST(ServePagedTest, AFinishedAnswerIsSharedWithTheNextTurn) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  CpuEngine engine(*m);
  // What greedy decoding generates for the first turn, as ids (the reference engine).
  const std::vector<int> prompt = m->tokenizer->encode("Once upon a time there was a little dog named", true);
  std::vector<int> answer;
  {
    auto cache = engine.make_cache(1, m->config.max_seq);
    ASSERT_TRUE(cache.ok()) << cache.status().to_string();
    GenerateOptions o;
    o.max_new_tokens = 24;
    o.sampling.temperature = 0;
    auto r = generate(engine, **cache, 0, prompt, *m->tokenizer, o);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    answer = r->tokens;
  }
  Metrics metrics;
  auto sched = Scheduler::create(engine, {4, 128, 64, test::paged_spec(64, 4)}, &metrics);
  ASSERT_TRUE(sched.ok()) << sched.status().to_string();
  GenerationRequest first;
  first.prompt = prompt;
  first.max_tokens = 24;
  first.sampling.temperature = 0;
  first.stop_tokens = {m->tokenizer->eos()};
  auto a = (*sched)->submit(first);
  while ((*sched)->step()) {
  }
  StreamUpdate ua = drain(*a);
  ASSERT_EQ(ua.usage.completion_tokens, static_cast<int>(answer.size()) + (answer.size() < 24 ? 1 : 0));
  EXPECT_EQ(metrics.prefix_cached_tokens_total.load(), 0);
  // Rows cached when it ended: the prompt and every generated token that was fed back (a
  // length-limited answer's last token never was; an EOS-ended one feeds all of its tokens).
  const int rows = static_cast<int>(prompt.size() + answer.size()) - (answer.size() == 24 ? 1 : 0);
  // Second turn: prompt + answer + more.
  GenerationRequest second = first;
  second.prompt.insert(second.prompt.end(), answer.begin(), answer.end());
  const std::vector<int> more = m->tokenizer->encode(" The dog", false);
  second.prompt.insert(second.prompt.end(), more.begin(), more.end());
  second.max_tokens = 8;
  auto b = (*sched)->submit(second);
  while ((*sched)->step()) {
  }
  // Every full block of those rows is mapped (not only the prompt's).
  EXPECT_EQ(metrics.prefix_cached_tokens_total.load(), rows / 4 * 4);
  EXPECT_GT(rows / 4 * 4, static_cast<int>(prompt.size()) / 4 * 4 + 4);
  // And the second turn's output is what the reference engine generates from scratch.
  auto cache = engine.make_cache(1, m->config.max_seq);
  ASSERT_TRUE(cache.ok()) << cache.status().to_string();
  GenerateOptions o;
  o.max_new_tokens = 8;
  o.sampling.temperature = 0;
  auto ref = generate(engine, **cache, 0, second.prompt, *m->tokenizer, o);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  EXPECT_EQ(drain(*b).text, ref->text);
}

}  // namespace
}  // namespace lrkv::serve
