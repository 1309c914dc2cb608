// The one engine surface (model/engine.h): the factory, the shared generation loop, stop strings,
// and the CLI defaults it fixed (f16 cache, leading space of the first generated piece, the
// closing progress line of perplexity).
#include <gtest/gtest.h>

#include <regex>

#include "backend/engine_factory.h"
#include "io/model_io.h"
#include "model/cpu_engine.h"
#include "model/generate.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

constexpr const char* kStories = "models/stories260K/stories260K.bin";

TEST(EngineFactory, CpuIsAnEngineAndBadDevicesAreNamed) {
  auto m = make_random_model(test::tiny_config(), 3);
  ASSERT_TRUE(m.ok());
  auto e = make_engine(*m, EngineOptions{"cpu"});
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ((*e)->device(), "cpu");
  auto bad = make_engine(*m, EngineOptions{"tpu"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--device tpu"), std::string::npos) << bad.status().message();
#ifndef LRKV_HAVE_CUDA
  auto cuda = make_engine(*m, EngineOptions{"cuda"});
  ASSERT_FALSE(cuda.ok());
  EXPECT_NE(cuda.status().message().find("--device cuda"), std::string::npos) << cuda.status().message();
  EXPECT_EQ(resolve_device("auto"), "cpu");
#endif
}

// The default forward_sample is forward + the sampler on the last row of each span.
TEST(EngineSurface, ForwardSampleEqualsSamplingTheLogits) {
  auto m = make_random_model(test::tiny_config(2, 4, 2, 8), 5);
  ASSERT_TRUE(m.ok());
  CpuEngine a(*m), b(*m);
  auto ca = a.make_cache(2, 16, DType::kF32);
  auto cb = b.make_cache(2, 16, DType::kF32);
  ASSERT_TRUE(ca.ok() && cb.ok());
  const std::vector<int> t0 = {1, 5, 9, 2}, t1 = {1, 7};
  const std::vector<SeqSpan> spans = {{0, t0.data(), 4}, {1, t1.data(), 2}};
  std::vector<Sampler> samplers = {Sampler({0.0f, 40, 0.95f, 1}), Sampler({0.8f, 5, 0.9f, 7})};
  std::vector<Sampler> host = samplers;
  std::vector<int> next;
  ASSERT_TRUE(a.forward_sample(spans, **ca, samplers, &next).ok());
  std::vector<float> logits;
  ASSERT_TRUE(b.forward(spans, **cb, LogitsMode::kLast, &logits).ok());
  const int V = m->config.n_vocab;
  ASSERT_EQ(next.size(), 2u);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(next[i], host[i].sample(logits.data() + i * V, V)) << i;
  EXPECT_EQ((*ca)->length(0), 4);
  EXPECT_EQ((*ca)->length(1), 2);
}

// generate() is the greedy loop written out by hand, and its text is the continuation of the
// prompt's text (the first piece keeps its leading space).
TEST(GenerateLoop, GreedyMatchesAHandWrittenLoopAndKeepsTheLeadingSpace) {
  LRKV_REQUIRE_SHARED(kStories);
  auto m = load_model(test::shared_path(kStories));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const std::vector<int> prompt = m->tokenizer->encode("The sun was hot and Mia wanted", true);
  CpuEngine engine(*m);
  auto cache = engine.make_cache(1, 128, DType::kF32);
  ASSERT_TRUE(cache.ok());
  GenerateOptions o;
  o.max_new_tokens = 24;
  o.ignore_eos = true;
  std::string streamed;
  auto r = generate(engine, **cache, 0, prompt, *m->tokenizer, o, [&](const std::string& p) {
    streamed += p;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->finish_reason, "length");
  ASSERT_EQ(r->tokens.size(), 24u);
  EXPECT_EQ(streamed, r->text);

  // Reference: argmax of full-sequence logits, token by token, with a fresh cache each time.
  std::vector<int> seq = prompt;
  for (int i = 0; i < 24; ++i) {
    const std::vector<float> logits = test::logits_of(*m, seq, DType::kF32);
    const int V = m->config.n_vocab;
    const float* last = logits.data() + (seq.size() - 1) * V;
    seq.push_back(static_cast<int>(std::max_element(last, last + V) - last));
  }
  EXPECT_EQ(std::vector<int>(seq.begin() + prompt.size(), seq.end()), r->tokens);
  const std::string whole = m->tokenizer->decode(seq);
  const std::string head = m->tokenizer->decode(prompt);
  ASSERT_EQ(whole.rfind(head, 0), 0u);
  EXPECT_EQ(r->text, whole.substr(head.size()));
}

TEST(GenerateLoop, StopStringEndsTheTextBeforeIt) {
  LRKV_REQUIRE_SHARED(kStories);
  auto m = load_model(test::shared_path(kStories));
  ASSERT_TRUE(m.ok());
  const std::vector<int> prompt = m->tokenizer->encode("Once upon a time", true);
  CpuEngine engine(*m);
  GenerateOptions o;
  o.max_new_tokens = 64;
  o.ignore_eos = true;
  auto cache = engine.make_cache(1, 128, DType::kF32);
  ASSERT_TRUE(cache.ok());
  auto full = generate(engine, **cache, 0, prompt, *m->tokenizer, o);
  ASSERT_TRUE(full.ok());
  ASSERT_GT(full->text.size(), 12u);
  const std::string stop = full->text.substr(8, 3);  // a string that does occur
  const size_t first = full->text.find(stop);
  o.stop = {stop};
  (*cache)->truncate(0, 0);
  auto cut = generate(engine, **cache, 0, prompt, *m->tokenizer, o);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->finish_reason, "stop");
  EXPECT_EQ(cut->text, full->text.substr(0, first));
}

TEST(StopFilter, HoldsBackPartialMatchesAndCutsAtTheEarliest) {
  StopFilter f({"END", "\n\n"});
  EXPECT_EQ(f.push("abc E"), "abc ");  // "E" may start END
  EXPECT_EQ(f.push("N"), "");
  EXPECT_EQ(f.push("x"), "ENx");        // not END after all
  EXPECT_EQ(f.push("y\n"), "y");
  EXPECT_EQ(f.push("\nEND"), "");       // "\n\n" comes first
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.push("more"), "");
  StopFilter g({"stop"});
  EXPECT_EQ(g.push("st"), "");
  EXPECT_EQ(g.flush(), "st");
}

// CLI defaults: an f16 cache (llama.cpp's), and the closing progress line of perplexity shows the
// perplexity printed below it.
TEST(EngineCli, PerplexityDefaultsToF16AndItsProgressEndsOnTheResult) {
  LRKV_REQUIRE_SHARED(kStories);
  std::string out;
  const std::string cmd = test::cli_path() + " perplexity " + test::shared_path(kStories) + " --text " +
                          test::shared_path("data/tinystories-valid-head.txt") +
                          " --split-paragraphs --docs 95%:100% --ctx 128 --max-tokens 2000 --device cpu";
  ASSERT_EQ(test::run_command(cmd, &out), 0) << out;
  EXPECT_NE(out.find("kv cache: dense f16"), std::string::npos) << out;
  std::smatch last_note, result;
  std::string rest = out, note;
  while (std::regex_search(rest, last_note, std::regex("ppl ([0-9.]+)"))) {
    note = last_note[1];
    rest = last_note.suffix();
  }
  ASSERT_TRUE(std::regex_search(out, result, std::regex("perplexity: ([0-9.]+)"))) << out;
  ASSERT_FALSE(note.empty()) << out;
  EXPECT_NEAR(std::stod(note), std::stod(result[1]), 0.0005 + 1e-9) << out;
}

// The case: lrkv-mha6 continues "... Mia wanted" with " to play"; the space was lost.
TEST(EngineCli, GenerateKeepsTheSpaceAfterThePrompt) {
  constexpr const char* kMha6 = "models/lrkv-mha6/model.bin";
  LRKV_REQUIRE_SHARED(kMha6);
  std::string out;
  const std::string cmd = test::cli_path() + " generate " + test::shared_path(kMha6) +
                          " -p 'The sun was hot and Mia wanted' -n 2 --device cpu";
  ASSERT_EQ(test::run_command(cmd, &out), 0) << out;
  EXPECT_NE(out.find("\nThe sun was hot and Mia wanted to play\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace lrkv
