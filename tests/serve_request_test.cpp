// Request parsing and validation (serve/api_request.h, prompt_builder.h), chat templates,
// SSE reading and the KV budget (stop strings: StopFilter, engine_surface_test): the engine-free parts of `lrkv serve`.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "serve/api_request.h"
#include "serve/chat_template.h"
#include "serve/kv_budget.h"
#include "serve/prompt_builder.h"
#include "serve/sse_reader.h"
#include "io/model_io.h"
#include "model/cpu_engine.h"
#include "model/synth.h"
#include "serve_test_util.h"

namespace lrkv::serve {
namespace {

ApiResult<ApiRequest> parse(const std::string& body, Endpoint e = Endpoint::kCompletions) {
  return parse_api_request(e, body, RequestLimits{512});
}

TEST(ServeRequestTest, ParsesEveryHonouredField) {
  auto r =
      parse(R"({"model":"m","prompt":"hi","max_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":5,
                     "seed":-3,"stop":["a","bc"],"stream":true,"stream_options":{"include_usage":true},
                     "ignore_eos":true,"user":"ignored"})");
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.value.model, "m");
  EXPECT_EQ(r.value.prompt, "hi");
  EXPECT_EQ(*r.value.max_tokens, 7);
  EXPECT_FLOAT_EQ(r.value.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.value.top_p, 0.9f);
  EXPECT_EQ(r.value.top_k, 5);
  EXPECT_EQ(*r.value.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(r.value.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_TRUE(r.value.stream && r.value.include_usage && r.value.ignore_eos);
  auto c = parse(R"({"messages":[{"role":"system","content":"s"},{"role":"user",
                     "content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"stop":"x"})",
                 Endpoint::kChat);
  ASSERT_TRUE(c.ok) << c.error.message;
  ASSERT_EQ(c.value.messages.size(), 2u);
  EXPECT_EQ(c.value.messages[1].content, "ab");
  EXPECT_EQ(c.value.stop, std::vector<std::string>{"x"});
  EXPECT_FALSE(c.value.max_tokens.has_value());
}

TEST(ServeRequestTest, ErrorsNameTheFieldAndAreOneLine) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"prompt":"x","max_tokens":0})", "max_tokens"},
      {R"({"prompt":"x","max_tokens":513})", "max_tokens"},
      {R"({"prompt":"x","max_tokens":"5"})", "max_tokens"},
      {R"({"prompt":"x","max_tokens":2.5})", "max_tokens"},
      {R"({"prompt":"x","max_tokens":1e300})", "max_tokens"},
      {R"({"prompt":"x","temperature":-1})", "temperature"},
      {R"({"prompt":"x","temperature":"hot"})", "temperature"},
      {R"({"prompt":"x","top_p":1.5})", "top_p"},
      {R"({"prompt":"x","top_k":-2})", "top_k"},
      {R"({"prompt":"x","seed":1.5})", "seed"},
      {R"({"prompt":"x","stop":["a","b","c","d","e"]})", "stop"},
      {R"({"prompt":"x","stop":[""]})", "stop"},
      {R"({"prompt":"x","stop":7})", "stop"},
      {R"({"prompt":"x","stream":"yes"})", "stream"},
      {R"({"prompt":"x","n":2})", "n"},
      {R"({"prompt":"x","logprobs":3})", "logprobs"},
      {R"({"prompt":["a","b"]})", "prompt"},
      {R"({"max_tokens":3})", "prompt"},
      {R"({"prompt":"x","model":3})", "model"},
  };
  for (const auto& [body, field] : cases) {
    auto r = parse(body);
    ASSERT_FALSE(r.ok) << body;
    EXPECT_EQ(r.error.http_status, 400) << body;
    EXPECT_EQ(r.error.param, field) << body << " -> " << r.error.message;
    EXPECT_NE(r.error.message.find(field), std::string::npos) << r.error.message;
    EXPECT_EQ(r.error.message.find('\n'), std::string::npos) << r.error.message;
    auto j = nlohmann::json::parse(r.error.to_json());
    EXPECT_EQ(j["error"]["param"], field);
    EXPECT_TRUE(j["error"].contains("code") && j["error"].contains("type") &&
                j["error"].contains("message"));
  }
  for (const char* body : {"", "{", "[1,2]", "null", "\"str\"", "{\"prompt\":\"\xff\xfe\"}"}) {
    auto r = parse(body);
    EXPECT_FALSE(r.ok) << body;
    EXPECT_EQ(r.error.http_status, 400);
  }
  const char* chat_cases[] = {R"({"messages":[]})", R"({"messages":"hi"})",
                              R"({"messages":[{"role":"bot","content":"x"}]})",
                              R"({"messages":[{"role":"user"}]})",
                              R"({"messages":[{"role":"user","content":[{"type":"image"}]}]})"};
  for (const char* body : chat_cases) {
    auto r = parse(body, Endpoint::kChat);
    ASSERT_FALSE(r.ok) << body;
    EXPECT_EQ(r.error.param.rfind("messages", 0), 0u) << body << " -> " << r.error.param;
  }
}

TEST(ServeRequestTest, PromptBuilderChecksTheContext) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  PromptContext c{m->tokenizer.get(), nullptr, 32, longest_piece_bytes(*m->tokenizer)};
  ApiRequest r;
  r.prompt = "Once upon a time";
  auto g = build_generation(r, c);
  ASSERT_TRUE(g.ok) << g.error.message;
  EXPECT_EQ(g.value.prompt, m->tokenizer->encode(r.prompt, true));
  EXPECT_EQ(g.value.max_tokens, 16);  // the completions default
  EXPECT_EQ(g.value.stop_tokens, std::vector<int>{m->tokenizer->eos()});
  r.max_tokens = 30;
  g = build_generation(r, c);
  ASSERT_FALSE(g.ok);
  EXPECT_EQ(g.error.param, "max_tokens");
  EXPECT_EQ(g.error.code, "context_length_exceeded");
  r.max_tokens.reset();
  r.prompt =
      std::string(200, 'a') + " b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f";
  g = build_generation(r, c);
  ASSERT_FALSE(g.ok);
  EXPECT_EQ(g.error.code, "context_length_exceeded");
  r.prompt = std::string(1 << 20, 'a');  // rejected by its size, before tokenizing
  g = build_generation(r, c);
  ASSERT_FALSE(g.ok);
  EXPECT_NE(g.error.message.find("bytes"), std::string::npos) << g.error.message;
  r.endpoint = Endpoint::kChat;
  r.messages = {{"user", "hi"}};
  g = build_generation(r, c);  // no chat template
  ASSERT_FALSE(g.ok);
  EXPECT_NE(g.error.message.find("--chat-template"), std::string::npos);
}

TEST(ServeChatTemplateTest, RecognisesModelTemplatesAndNames) {
  EXPECT_EQ(*chat_format_of_jinja("{{ '<|start_header_id|>' + role }}"), ChatFormat::kLlama3);
  EXPECT_EQ(*chat_format_of_jinja("<|im_start|>{{ role }}"), ChatFormat::kChatMl);
  EXPECT_EQ(*chat_format_of_jinja("<|im_start|>system\nYou are a helpful assistant."),
            ChatFormat::kQwen2);
  EXPECT_EQ(*chat_format_of_jinja("[INST] <<SYS>>\n"), ChatFormat::kLlama2);
  EXPECT_EQ(*chat_format_of_jinja("{{ bos_token }}[INST] {{ m }} [/INST]"), ChatFormat::kMistral);
  auto unknown = chat_format_of_jinja("{{ '<start_of_turn>' }}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--chat-template"), std::string::npos);
  for (const char* name : {"llama2", "llama3", "mistral", "chatml", "qwen2"}) {
    auto f = chat_format_by_name(name);
    ASSERT_TRUE(f.ok()) << name;
    EXPECT_STREQ(chat_format_name(*f), name);
  }
  auto bad = chat_format_by_name("vicuna");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--chat-template vicuna"), std::string::npos);
}

TEST(ServeChatTemplateTest, ComesFromTheGgufChatTemplateMetadata) {
  LRKV_REQUIRE_SHARED(test::kStories);
  auto m = load_model(test::shared_path(test::kStories));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto none = select_chat_template(*m, "");  // llama2.c files carry no template
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  m->extra_metadata["tokenizer.chat_template"] = "{{ bos_token + '[INST] <<SYS>>\\n' }}";
  const std::string path = test::temp_dir() + "/chat.gguf";
  ASSERT_TRUE(save_model(*m, path).ok());
  auto back = load_model(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  auto t = select_chat_template(*back, "");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->format(), ChatFormat::kLlama2);
  auto flag = select_chat_template(*back, "mistral");  // the flag overrides the metadata
  ASSERT_TRUE(flag.ok() && flag->has_value());
  EXPECT_EQ((*flag)->format(), ChatFormat::kMistral);
  back->extra_metadata["tokenizer.chat_template"] = "{{ '<start_of_turn>' }}";
  auto unknown = select_chat_template(*back, "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--chat-template"), std::string::npos);
}

// HF directories: tokenizer_config.json's chat_template (a string, or the list form with a
// "default" entry) is the model's template; bad shapes are errors naming the file.
TEST(ServeChatTemplateTest, ComesFromHfTokenizerConfig) {
  auto m = make_random_model(test::tiny_config(), 5);
  ASSERT_TRUE(m.ok());
  const std::string dir = test::temp_dir() + "/hf_chat";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(save_model(*m, dir + "/model.safetensors").ok());
  const std::string llama2 = "{{ bos_token + '[INST] <<SYS>>\\n' + messages[0]['content'] + ' [/INST]' }}";
  auto write_config = [&](const std::string& text) { std::ofstream(dir + "/tokenizer_config.json") << text; };
  auto select = [&]() -> Result<std::optional<ChatTemplate>> {
    LRKV_ASSIGN_OR_RETURN(Model back, load_model(dir + "/model.safetensors"));
    return select_chat_template(back, "");
  };
  write_config(R"({"bos_token": "<s>"})");  // no chat_template: no template, not an error
  auto none = select();
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_FALSE(none->has_value());
  write_config(nlohmann::json{{"chat_template", llama2}}.dump());
  auto t = select();
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->format(), ChatFormat::kLlama2);
  write_config(nlohmann::json{{"chat_template", nlohmann::json::array({{{"name", "tool_use"}, {"template", "x"}},
                                                                       {{"name", "default"}, {"template", llama2}}})}}
                   .dump());
  auto listed = select();
  ASSERT_TRUE(listed.ok()) << listed.status().to_string();
  ASSERT_TRUE(listed->has_value());
  EXPECT_EQ((*listed)->format(), ChatFormat::kLlama2);
  for (const char* bad : {R"({"chat_template": 7})", R"({"chat_template": [{"name": "tool_use", "template": "x"}]})",
                          "[1, 2]", "{not json"}) {
    write_config(bad);
    auto r = load_model(dir + "/model.safetensors");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("tokenizer_config.json"), std::string::npos) << r.status().message();
  }
}

TEST(ServeChatTemplateTest, Llama2LayoutAndMissingSpecialTokens) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  const Tokenizer& tok = *m->tokenizer;
  auto t = ChatTemplate::create(ChatFormat::kLlama2, tok);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  std::vector<int> got =
      t->render({{"system", "Be kind."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}});
  std::vector<int> want = {tok.bos()};
  auto add = [&](const std::string& s) {
    auto ids = tok.encode(s, false);
    want.insert(want.end(), ids.begin(), ids.end());
  };
  add("[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST]");
  add(" Hello ");
  want.push_back(tok.eos());
  want.push_back(tok.bos());
  add("[INST] Bye [/INST]");
  EXPECT_EQ(got, want);
  EXPECT_EQ(t->stop_tokens(), std::vector<int>{tok.eos()});
  auto chatml = ChatTemplate::create(ChatFormat::kChatMl, tok);  // tok512 has no <|im_start|>
  ASSERT_FALSE(chatml.ok());
  EXPECT_NE(chatml.status().message().find("<|im_start|>"), std::string::npos);
}

TEST(ServeSseTest, ReadsEventsAcrossFeedsAndSkipsComments) {
  SseReader r;
  EXPECT_TRUE(r.feed("data: {\"choices\":[{\"text\":\"a\"}]}\n").empty());
  auto ev =
      r.feed("\n: ping\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DO");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(choice_text(ev[0]), "a");
  EXPECT_EQ(choice_text(ev[1]), "b");
  EXPECT_FALSE(r.done());
  EXPECT_TRUE(r.feed("NE]\n\n").empty());
  EXPECT_TRUE(r.done());
}

TEST(ServeBudgetTest, TheCacheForTheBudgetsSlotsFitsTheBudget) {
  const Model* m = test::stories_model();
  if (m == nullptr) GTEST_SKIP() << "missing shared asset " << test::kStories;
  CpuEngine engine(*m);
  const int64_t budget = 1 << 20;
  for (const char* kv : {"f32", "f16", "kivi2"}) {  // stories260K: head_dim 8, no q4_0 blocks
    auto spec = parse_kv_type("--kv-type", kv);
    ASSERT_TRUE(spec.ok());
    auto cost = slot_cost(engine, *spec, 256);
    ASSERT_TRUE(cost.ok()) << cost.status().to_string();
    EXPECT_GE(cost->bytes_per_slot, cost->bytes_per_token * 256) << kv;
    auto slots = slots_for_budget(cost->bytes_per_slot, 256, budget, 1000);
    ASSERT_TRUE(slots.ok()) << kv;
    auto cache = engine.make_cache(*slots, 256, *spec);
    ASSERT_TRUE(cache.ok()) << kv;
    EXPECT_LE((*cache)->allocated_bytes(), budget) << kv;
    EXPECT_GT((*cache)->allocated_bytes() + cost->bytes_per_slot, budget)
        << kv << ": one more slot would fit";
  }
}

TEST(ServeBudgetTest, SlotsFromBytes) {
  EXPECT_EQ(*parse_byte_size("--kv-budget", "8GiB"), int64_t{8} << 30);
  EXPECT_EQ(*parse_byte_size("--kv-budget", "1.5MB"), 1500000);
  EXPECT_EQ(*parse_byte_size("--kv-budget", "4096"), 4096);
  for (const char* bad : {"", "x", "-1GiB", "8 GiB", "8gb", "0"}) {
    auto r = parse_byte_size("--kv-budget", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--kv-budget"), std::string::npos);
  }
  EXPECT_EQ(*slots_for_budget(100000, 100, 350000, 8), 3);
  EXPECT_EQ(*slots_for_budget(100000, 100, 10000000, 8), 8);  // capped by --parallel
  auto none = slots_for_budget(100000, 100, 99999, 8);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("--kv-budget"), std::string::npos);
}

}  // namespace
}  // namespace lrkv::serve
