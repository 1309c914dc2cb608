// `lrkv serve` over HTTP on 127.0.0.1 (in-process Server, stories260K): endpoint schemas,
// streaming, concurrent greedy generation vs the single-sequence loop, stop strings,
// cancellation, malformed requests, queueing on a full cache, the API key, and the binary's
// start-up and clean SIGTERM stop.
#include <atomic>
#include <csignal>
#include <fstream>
#include <thread>

#include "io/model_io.h"
#include "serve_test_util.h"

namespace lrkv::test {
namespace {

using nlohmann::json;

// paged_blocks > 0: a paged f32 cache of that many blocks of 16 tokens.
serve::ServerOptions small_server(int slots, int ctx = 256, int paged_blocks = 0) {
  serve::ServerOptions o;
  o.scheduler.slots = slots;
  o.scheduler.ctx = ctx;
  o.scheduler.batch_tokens = 64;
  o.scheduler.cache.paging = {paged_blocks, 16};
  o.model_name = "stories";
  return o;
}

#define LRKV_REQUIRE_STORIES()          \
  const Model* model = stories_model(); \
  if (model == nullptr) GTEST_SKIP() << "missing shared asset " << kStories

TEST(ServeHttpTest, EveryEndpointHasTheOpenAiShape) {
  LRKV_REQUIRE_STORIES();
  TestServer t = start_test_server(*model, small_server(2));
  ASSERT_TRUE(t.server);
  auto cli = t.client();
  auto health = cli->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  auto models = cli->Get("/v1/models");
  ASSERT_TRUE(models);
  json ml = json::parse(models->body);
  EXPECT_EQ(ml["object"], "list");
  EXPECT_EQ(ml["data"][0]["id"], "stories");
  EXPECT_EQ(ml["data"][0]["object"], "model");

  JsonReply c =
      post_json(*cli, "/v1/completions",
                json{{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(c.status, 200) << c.raw;
  EXPECT_EQ(c.body["object"], "text_completion");
  EXPECT_EQ(c.body["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_TRUE(c.body["created"].is_number_integer());
  EXPECT_EQ(c.body["choices"][0]["index"], 0);
  EXPECT_EQ(c.body["choices"][0]["text"], reference_greedy(*model, "Once upon a time", 8));
  EXPECT_EQ(c.body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(c.body["usage"]["completion_tokens"], 8);
  EXPECT_EQ(c.body["usage"]["prompt_tokens"],
            model->tokenizer->encode("Once upon a time", true).size());
  EXPECT_EQ(c.body["usage"]["total_tokens"], c.body["usage"]["prompt_tokens"].get<int>() + 8);

  JsonReply chat = post_json(
      *cli, "/v1/chat/completions",
      json{{"messages", {{{"role", "user"}, {"content", "Tell a story"}}}}, {"max_tokens", 6}});
  ASSERT_EQ(chat.status, 200) << chat.raw;
  EXPECT_EQ(chat.body["object"], "chat.completion");
  EXPECT_EQ(chat.body["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(chat.body["choices"][0]["message"]["content"].is_string());
  EXPECT_TRUE(chat.body["choices"][0]["finish_reason"].is_string());
  EXPECT_GT(chat.body["usage"]["prompt_tokens"].get<int>(), 5);

  const long served = metric(*cli, "requests_finished_total");
  EXPECT_EQ(served, 2);
  EXPECT_EQ(metric(*cli, "kv_slots_total"), 2);
  EXPECT_EQ(metric(*cli, "kv_slots_free"), 2);
  EXPECT_EQ(metric(*cli, "generated_tokens_total"),
            8 + chat.body["usage"]["completion_tokens"].get<int>());
  EXPECT_GT(metric(*cli, "kv_bytes_per_token"), 0);
  EXPECT_EQ(metric(*cli, "kv_tokens_capacity"), 2 * 256);
}

TEST(ServeHttpTest, StreamedChunksReassembleToTheWholeResponse) {
  LRKV_REQUIRE_STORIES();
  TestServer t = start_test_server(*model, small_server(2));
  ASSERT_TRUE(t.server);
  auto cli = t.client();
  const json req = {
      {"prompt", "Lily went to the park"}, {"max_tokens", 40}, {"temperature", 0.8}, {"seed", 7}};
  JsonReply whole = post_json(*cli, "/v1/completions", req);
  ASSERT_EQ(whole.status, 200) << whole.raw;
  StreamedReply s = post_stream(*cli, "/v1/completions", req);
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  EXPECT_GT(s.chunks, 3);
  EXPECT_EQ(s.text, whole.body["choices"][0]["text"]);  // same seed: same sample
  EXPECT_EQ(s.finish_reason, whole.body["choices"][0]["finish_reason"]);
  EXPECT_EQ(s.completion_tokens, -1);  // no usage chunk unless asked for
  json with_usage = req;
  with_usage["stream_options"] = {{"include_usage", true}};
  StreamedReply su = post_stream(*cli, "/v1/completions", with_usage);
  EXPECT_EQ(su.text, s.text);
  EXPECT_EQ(su.completion_tokens, whole.body["usage"]["completion_tokens"]);
  const json chat = {{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                     {"max_tokens", 20},
                     {"temperature", 0}};
  JsonReply cw = post_json(*cli, "/v1/chat/completions", chat);
  StreamedReply cs = post_stream(*cli, "/v1/chat/completions", chat);
  EXPECT_EQ(cs.text, cw.body["choices"][0]["message"]["content"]);
  EXPECT_TRUE(cs.done);
}

// On a paged cache of 24 blocks of 16 tokens for 16 sequences of ~30-40 tokens: requests wait for
// blocks and running ones are preempted and recomputed, and every text is still the reference.
TEST(ServeHttpTest, ThirtyTwoConcurrentGreedyRequestsMatchSingleSequenceGeneration) {
  LRKV_REQUIRE_STORIES();
  TestServer t = start_test_server(*model, small_server(16, 256, 24));
  ASSERT_TRUE(t.server);
  const char* starts[] = {"Once upon a time", "The little dog", "Tom and Sue",
                          "One day, a bird",  "The sun was",    "Mom said",
                          "There was a big",  "Ben liked to"};
  std::vector<std::string> prompts, got(32);
  for (int i = 0; i < 32; ++i)
    prompts.push_back(std::string(starts[i % 8]) + (i >= 8 ? " and " + std::to_string(i) : ""));
  std::vector<std::thread> clients;
  for (int i = 0; i < 32; ++i) {
    clients.emplace_back([&, i] {
      auto cli = t.client();
      const json req = {{"prompt", prompts[i]}, {"max_tokens", 24}, {"temperature", 0}};
      if (i % 2 == 0) {
        JsonReply r = post_json(*cli, "/v1/completions", req);
        got[i] = r.status == 200 ? r.body["choices"][0]["text"].get<std::string>()
                                 : "HTTP " + std::to_string(r.status) + " " + r.raw;
      } else {
        StreamedReply r = post_stream(*cli, "/v1/completions", req);
        got[i] = r.status == 200 ? r.text : "HTTP " + std::to_string(r.status);
      }
    });
  }
  for (auto& c : clients) c.join();
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(got[i], reference_greedy(*model, prompts[i], 24)) << prompts[i];
  auto mcli = t.client();
  EXPECT_EQ(metric(*mcli, "kv_blocks_total"), 24);
  EXPECT_EQ(metric(*mcli, "kv_blocks_used"), 0);
  EXPECT_EQ(metric(*mcli, "kv_blocks_free"), 24);
  EXPECT_GT(metric(*mcli, "preemptions_total") + metric(*mcli, "prefix_cached_tokens_total"), 0);
}

TEST(ServeHttpTest, StopStringsEndTheTextBeforeTheMatch) {
  LRKV_REQUIRE_STORIES();
  TestServer t = start_test_server(*model, small_server(2));
  ASSERT_TRUE(t.server);
  auto cli = t.client();
  const std::string full = reference_greedy(*model, "Once upon a time", 40);
  const size_t cut = full.find(" she");
  ASSERT_NE(cut, std::string::npos) << full;
  const json req = {{"prompt", "Once upon a time"},
                    {"max_tokens", 40},
                    {"temperature", 0},
                    {"stop", {"zzz", " she"}}};
  JsonReply r = post_json(*cli, "/v1/completions", req);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["choices"][0]["text"], full.substr(0, cut));
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "stop");
  StreamedReply s = post_stream(*cli, "/v1/completions", req);
  EXPECT_EQ(s.text, full.substr(0, cut));
  EXPECT_EQ(s.finish_reason, "stop");
}

TEST(ServeHttpTest, ClientDisconnectCancelsAndFreesTheSlot) {
  LRKV_REQUIRE_STORIES();
  TestServer t = start_test_server(*model, small_server(1, 512, 64));
  ASSERT_TRUE(t.server);
  auto cli = t.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body =
      json{{"prompt", "Once"}, {"max_tokens", 500}, {"ignore_eos", true}, {"stream", true}}.dump();
  req.content_receiver = [](const char*, size_t, uint64_t, uint64_t) { return false; };  // hang up
  cli->send(req);
  cli->stop();
  auto mcli = t.client();
  long cancelled = 0;
  for (int i = 0; i < 200 && (cancelled = metric(*mcli, "requests_cancelled_total")) < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(metric(*mcli, "kv_slots_used"), 0);
  EXPECT_EQ(metric(*mcli, "kv_tokens_used"), 0);
  EXPECT_EQ(metric(*mcli, "kv_blocks_used"), 0);  // the cancelled sequence's blocks are free
  EXPECT_LT(metric(*mcli, "generated_tokens_total"), 500);
  JsonReply after =
      post_json(*mcli, "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 3}});
  EXPECT_EQ(after.status, 200) << after.raw;  // the freed slot serves the next request
}

// A non-streamed request whose client gives up: the server notices at its next whitespace probe
// (after a second of waiting) and cancels it. lrkv-mha6 generates slowly enough on the CPU for
// the request to be still running then (480 tokens).
TEST(ServeHttpTest, NonStreamingClientDisconnectCancelsToo) {
  const char* rel = "models/lrkv-mha6/model.bin";
  if (!shared_exists(rel)) GTEST_SKIP() << "missing shared asset " << rel;
  auto m = load_model(shared_path(rel));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  TestServer t = start_test_server(*m, small_server(1, 512), "");
  ASSERT_TRUE(t.server);
  auto cli = t.client();
  cli->set_read_timeout(0, 300 * 1000);  // gives up after 300 ms without a byte
  auto r = cli->Post("/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 480}, {"ignore_eos", true}}.dump(),
                     "application/json");
  EXPECT_FALSE(r) << "the request finished before the client gave up";
  cli->stop();
  auto mcli = t.client();
  long cancelled = 0;
  for (int i = 0; i < 400 && (cancelled = metric(*mcli, "requests_cancelled_total")) < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(metric(*mcli, "kv_slots_used"), 0);
  EXPECT_LT(metric(*mcli, "generated_tokens_total"), 480);
  JsonReply after = post_json(*mcli, "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 3}});
  EXPECT_EQ(after.status, 200) << after.raw;
}

std::vector<std::string> malformed_bodies() {
  std::vector<std::string> b = {"",
                                "{",
                                "}",
                                "[]",
                                "null",
                                "42",
                                "\"x\"",
                                "{\"prompt\":}",
                                "{'prompt':'x'}",
                                "{\"prompt\":\"\xff\xfe\"}",
                                "{\"prompt\":\"\xc3\"}",
                                "{\"prompt\":\"a\\ud800\"}",
                                std::string(5000, '['),
                                "{\"prompt\":\"x\"" + std::string(100, ' ')};
  const std::pair<const char*, std::vector<std::string>> fields[] = {
      {"max_tokens",
       {"-1", "0", "-99999999999", "1000000000000", "1e308", "2.5", "\"16\"", "true", "[]", "{}",
        "257"}},
      {"temperature", {"-0.1", "2.5", "\"0\"", "[]", "1e999", "null"}},
      {"top_p", {"-1", "1.01", "\"a\"", "{}"}},
      {"top_k", {"-1", "1.5", "\"5\"", "99999999999"}},
      {"seed", {"0.5", "\"1\"", "[1]"}},
      {"stop", {"5", "[1]", "[\"\"]", "[\"a\",\"b\",\"c\",\"d\",\"e\"]", "{}", "[null]"}},
      {"stream", {"1", "\"true\"", "[]"}},
      {"n", {"2", "0", "\"1\""}},
      {"prompt", {"5", "[1,2,3]", "[\"a\",\"b\"]", "{}", "true", "null"}},
      {"model", {"5", "[]"}},
      {"logprobs", {"1", "true"}},
      {"stream_options", {"1", "{\"include_usage\":1}"}},
  };
  for (const auto& [field, values] : fields) {
    for (const std::string& v : values) {
      if (std::string(field) == "temperature" && v == "null")
        continue;  // null means default: valid
      if (std::string(field) == "prompt") {
        b.push_back("{\"prompt\":" + v + "}");
        continue;
      }
      for (const char* prompt : {"\"prompt\":\"Once\"", "\"prompt\":\"\"", "\"prompt\":[\"a b\"]",
                                 "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"}) {
        b.push_back(std::string("{") + prompt + ",\"" + field + "\":" + v + "}");
      }
    }
  }
  std::string words;
  for (int i = 0; i < 600; ++i) words += " cat";
  b.push_back(json{{"prompt", words}}.dump());                      // prompt > context
  b.push_back(json{{"prompt", "hi"}, {"max_tokens", 256}}.dump());  // prompt + max_tokens > context
  b.push_back(json{{"prompt", std::string(200000, 'a')}}.dump());   // far beyond the context
  return b;
}

TEST(ServeHttpTest, HundredsOfMalformedRequestsGet4xxAndTheServerKeepsServing) {
  LRKV_REQUIRE_STORIES();
  serve::ServerOptions o = small_server(2);
  o.max_body_bytes = 256 * 1024;
  TestServer t = start_test_server(*model, o);
  ASSERT_TRUE(t.server);
  auto cli = t.client();
  std::vector<std::string> bodies = malformed_bodies();
  const std::string chat_bad[] = {"{\"messages\":[]}",
                                  "{\"messages\":[{\"role\":\"x\",\"content\":\"y\"}]}",
                                  "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
                                  "{\"messages\":{}}", "{\"prompt\":\"x\"}"};
  int checked = 0;
  for (const std::string& body : bodies) {
    for (const char* path : {"/v1/completions", "/v1/chat/completions"}) {
      const bool chat_body = body.find("\"messages\"") != std::string::npos;
      if (body.find("\"prompt\"") != std::string::npos &&
          std::string(path) == "/v1/chat/completions")
        continue;
      if (chat_body && std::string(path) == "/v1/completions") continue;
      JsonReply r = post_json(*cli, path, body, "");
      ASSERT_GE(r.status, 400) << path << " " << body.substr(0, 80);
      ASSERT_LT(r.status, 500) << path << " " << body.substr(0, 80) << " -> " << r.raw;
      ASSERT_TRUE(r.body.is_object() && r.body["error"]["message"].is_string()) << r.raw;
      EXPECT_TRUE(r.body["error"].contains("param") && r.body["error"].contains("code"));
      ++checked;
    }
  }
  for (const std::string& body : chat_bad) {
    JsonReply r = post_json(*cli, "/v1/chat/completions", body, "");
    EXPECT_EQ(r.status, 400) << body << " -> " << r.raw;
    ++checked;
  }
  JsonReply huge = post_json(*cli, "/v1/completions", std::string(300 * 1024, ' '), "");
  EXPECT_EQ(huge.status, 413);
  EXPECT_TRUE(huge.body["error"]["message"].is_string()) << huge.raw;
  auto wrong_method = cli->Get("/v1/completions");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 404);
  EXPECT_GE(checked, 200);
  EXPECT_EQ(metric(*cli, "requests_rejected_total"), metric(*cli, "requests_total"));
  JsonReply ok =
      post_json(*cli, "/v1/completions",
                json{{"prompt", "Once upon a time"}, {"max_tokens", 5}, {"temperature", 0}});
  ASSERT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(ok.body["choices"][0]["text"], reference_greedy(*model, "Once upon a time", 5));
}

TEST(ServeHttpTest, AFullCacheQueuesRequestsInsteadOfFailingThem) {
  LRKV_REQUIRE_STORIES();
  TestServer t = start_test_server(*model, small_server(2));
  ASSERT_TRUE(t.server);
  std::atomic<int> ok{0};
  std::atomic<long> peak_queued{0};
  std::atomic<bool> running{true};
  std::thread watcher([&] {
    auto cli = t.client();
    while (running) {
      peak_queued = std::max(peak_queued.load(), metric(*cli, "sequences_queued"));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::thread> clients;
  for (int i = 0; i < 10; ++i) {
    clients.emplace_back([&] {
      auto cli = t.client();
      JsonReply r = post_json(*cli, "/v1/completions",
                              json{{"prompt", "Once"}, {"max_tokens", 120}, {"ignore_eos", true}});
      if (r.status == 200 && r.body["usage"]["completion_tokens"] == 120) ++ok;
    });
  }
  for (auto& c : clients) c.join();
  running = false;
  watcher.join();
  EXPECT_EQ(ok.load(), 10);
  EXPECT_GT(peak_queued.load(), 0);  // 10 requests, 2 slots: some waited
}

TEST(ServeHttpTest, TheApiKeyIsEnforced) {
  LRKV_REQUIRE_STORIES();
  serve::ServerOptions o = small_server(1);
  o.api_key = "sekret";
  TestServer t = start_test_server(*model, o);
  ASSERT_TRUE(t.server);
  auto cli = t.client();
  const std::string body = json{{"prompt", "Once"}, {"max_tokens", 2}}.dump();
  for (const std::string key : {"", "wrong", "sekre", "sekret2"}) {
    JsonReply r = post_json(*cli, "/v1/completions", body, key);
    EXPECT_EQ(r.status, 401) << "key '" << key << "'";
    EXPECT_EQ(r.body["error"]["code"], "invalid_api_key");
  }
  auto models = cli->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);
  auto health = cli->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);  // probes need no key
  JsonReply r = post_json(*cli, "/v1/completions", body, "sekret");
  EXPECT_EQ(r.status, 200) << r.raw;
}

TEST(ServeCliTest, StartsOnLoopbackAndStopsCleanlyOnSigterm) {
  LRKV_REQUIRE_SHARED(kStories);
  const std::string dir = temp_dir();
  const std::string cmd = cli_path() + " serve " + shared_path(kStories) +
                          " --port 0 --kv-type f16 --kv-budget 200KiB --ctx 128 > " + dir + "/out.txt 2> " + dir +
                          "/err.txt & echo $!";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  int pid = 0;
  ASSERT_EQ(fscanf(p, "%d", &pid), 1);
  pclose(p);
  std::string out;
  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::ifstream f(dir + "/out.txt");
    std::getline(f, out);
    const size_t at = out.find("http://127.0.0.1:");
    if (at != std::string::npos) port = std::atoi(out.c_str() + at + 17);
  }
  ASSERT_GT(port, 0) << out;
  httplib::Client cli("127.0.0.1", port);
  JsonReply r = post_json(cli, "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 4}});
  EXPECT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  bool exited = false;
  for (int i = 0; i < 200 && !exited; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    exited = kill(pid, 0) != 0;
  }
  EXPECT_TRUE(exited) << "lrkv serve still running after SIGTERM";
  std::string err_text;
  std::ifstream err(dir + "/err.txt");
  err_text.assign(std::istreambuf_iterator<char>(err), {});
  EXPECT_NE(err_text.find("stopping"), std::string::npos) << err_text;
  EXPECT_NE(err_text.find("paged, 20 blocks of 16 tokens"), std::string::npos)
      << err_text;  // 200 KiB / (640 B/token x 16)
  EXPECT_NE(err_text.find("up to 512 tokens per step"), std::string::npos)
      << err_text;  // the CPU engine's default --batch-tokens
}

TEST(ServeCliTest, BadFlagsAreOneLineErrors) {
  LRKV_REQUIRE_SHARED(kStories);
  const std::pair<std::string, std::string> cases[] = {
      {"--chat-template vicuna", "--chat-template vicuna"},
      {"--chat-template chatml", "<|im_start|>"},
      {"--kv-budget lots", "--kv-budget"},
      {"--kv-budget 1KiB", "--kv-budget"},
      {"--parallel 0", "--parallel"},
      {"--batch-tokens -5", "--batch-tokens"},
      {"--device tpu", "--device tpu"},
  };
  for (const auto& [flags, fragment] : cases) {
    std::string out;
    const int rc =
        run_command(cli_path() + " serve " + shared_path(kStories) + " --port 0 " + flags, &out);
    EXPECT_EQ(rc, 2) << flags << ": " << out;
    EXPECT_NE(out.find(fragment), std::string::npos) << flags << ": " << out;
  }
  std::string help;
  EXPECT_EQ(run_command(cli_path() + " serve --help", &help), 0);
  for (const char* flag :
       {"--host", "--port", "--parallel", "--kv-budget", "--ctx", "--api-key", "--chat-template",
        "--kv-type", "--latent-bits", "--device", "--batch-tokens"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace lrkv::test
