// lrkv bench-serve's load generator (serve/load_generator.h) against the in-process server
// (stories260K): every request ends ok or abandoned on purpose, none lost; the soak options draw
// repeatable lengths and disconnects; abandoned requests are cancelled by the server and their
// slots freed; bad options are refused by name; the aggregate decode rate's arithmetic.
#include <thread>

#include "serve/load_generator.h"
#include "serve_test_util.h"

namespace lrkv::test {
namespace {

// Load against the test server's port.
serve::LoadOptions load_options(const TestServer& t, int concurrency, int prompt_len, int gen_len) {
  serve::LoadOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(t.port());
  o.concurrency = concurrency;
  o.prompt_len = prompt_len;
  o.gen_len = gen_len;
  return o;
}

serve::ServerOptions load_server() {
  serve::ServerOptions o;
  o.scheduler.slots = 4;
  o.scheduler.ctx = 256;
  o.scheduler.batch_tokens = 64;
  o.model_name = "stories";
  return o;
}

TEST(ServeLoadTest, EveryRequestEndsOkOrAbandonedAndAbandonedOnesAreCancelled) {
  const Model* model = stories_model();
  if (model == nullptr) GTEST_SKIP() << "missing shared asset " << kStories;
  TestServer t = start_test_server(*model, load_server());
  ASSERT_TRUE(t.server);
  for (bool stream : {true, false}) {
    serve::LoadOptions o = load_options(t, 6, 40, 60);
    o.requests = 30;
    o.stream = stream;
    o.random_lengths = true;
    o.disconnect_rate = 0.3;
    auto cli = t.client();
    const long cancelled_before = metric(*cli, "requests_cancelled_total");
    auto r = serve::run_load(o);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->errors, 0) << r->first_error;
    EXPECT_EQ(r->ok + r->abandoned, 30);
    EXPECT_GT(r->abandoned, 0);
    EXPECT_LE(r->abandoned, r->planned_disconnects);
    EXPECT_GT(r->ok, 0);
    // Streamed: every finished request of more than one token has a decode span, within the run.
    EXPECT_EQ(r->decode_spans.empty(), !stream);
    for (const auto& [first, last] : r->decode_spans) EXPECT_TRUE(0 <= first && first <= last && last <= r->wall_s);
    auto again = serve::run_load(o);  // the draws depend on the request index only
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->planned_disconnects, r->planned_disconnects) << (stream ? "stream" : "whole");
    EXPECT_EQ(again->errors, 0) << again->first_error;
    EXPECT_EQ(again->ok + again->abandoned, 30);
    // Abandoned requests are cancelled (those that had not finished) and nothing stays held.
    long used = -1;
    for (int i = 0; i < 200 && (used = metric(*cli, "kv_slots_used")) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    EXPECT_EQ(used, 0);
    // At most one cancellation per abandoned request (two runs); one that finished first has none.
    EXPECT_LE(metric(*cli, "requests_cancelled_total") - cancelled_before, long{r->abandoned} + again->abandoned);
  }
}

TEST(ServeLoadTest, DurationModeAndBadOptions) {
  const Model* model = stories_model();
  if (model == nullptr) GTEST_SKIP() << "missing shared asset " << kStories;
  TestServer t = start_test_server(*model, load_server());
  ASSERT_TRUE(t.server);
  serve::LoadOptions o = load_options(t, 3, 16, 8);
  o.duration_s = 1.0;
  auto r = serve::run_load(o);
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->wall_s, 1.0);
  EXPECT_LT(r->wall_s, 30.0);
  EXPECT_GT(r->ok, 3);
  EXPECT_EQ(r->errors, 0) << r->first_error;
  using Edit = void (*)(serve::LoadOptions*);
  for (Edit bad : {Edit{[](serve::LoadOptions* b) { b->disconnect_rate = 1.5; }},
                   Edit{[](serve::LoadOptions* b) { b->duration_s = -1; }},
                   Edit{[](serve::LoadOptions* b) { b->concurrency = 0; }}}) {
    serve::LoadOptions b = o;
    bad(&b);
    auto e = serve::run_load(b);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find("--"), std::string::npos) << e.status().message();
  }
}

// A refused request's reason reaches the report in both modes: a streamed request that the
// server answers with a JSON error (not events) keeps that body for the message.
TEST(ServeLoadTest, RefusedRequestsReportTheServersMessage) {
  const Model* model = stories_model();
  if (model == nullptr) GTEST_SKIP() << "missing shared asset " << kStories;
  TestServer t = start_test_server(*model, load_server());
  ASSERT_TRUE(t.server);
  for (bool stream : {true, false}) {
    serve::LoadOptions o = load_options(t, 2, 1000, 8);  // ~1000 prompt tokens, context 256
    o.requests = 2;
    o.stream = stream;
    auto r = serve::run_load(o);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->errors, 2);
    EXPECT_NE(r->first_error.find("HTTP 400"), std::string::npos) << r->first_error;
    EXPECT_NE(r->first_error.find("context_length_exceeded"), std::string::npos)
        << (stream ? "stream: " : "whole: ") << r->first_error;
  }
}

// The aggregate decode rate counts tokens over the union of the decode spans: overlapping
// spans once, gaps not at all (hand-computed: spans [0,2], [1,3], [5,6] cover 4 s).
TEST(ServeLoadTest, DecodeRateIsTokensOverTheUnionOfDecodeSpans) {
  serve::LoadReport r;
  EXPECT_EQ(serve::decode_tokens_per_s(r), 0.0);
  r.decode_spans = {{5.0, 6.0}, {0.0, 2.0}, {1.0, 3.0}, {1.5, 2.5}};
  r.decode_tokens = 100;
  EXPECT_DOUBLE_EQ(serve::decode_tokens_per_s(r), 25.0);
  r.decode_spans = {{0.0, 2.0}};  // one request alone: its own rate
  r.decode_tokens = 50;
  EXPECT_DOUBLE_EQ(serve::decode_tokens_per_s(r), 25.0);
}

}  // namespace
}  // namespace lrkv::test
