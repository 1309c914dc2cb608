// Zero-shot tasks: every reader on a hand-written sample of its layout, malformed records named by
// file:line, bzip2 input, the scorer's bookkeeping through a stub log-likelihood, the engine's
// two-pass batched log-likelihood against a plain full forward, and a real-model smoke test.
#include <bzlib.h>

#include <cmath>
#include <fstream>

#include "model/cpu_engine.h"
#include "io/model_io.h"
#include "eval/perplexity.h"
#include "eval/tasks/compressed_text.h"
#include "eval/tasks/engine_loglik.h"
#include "eval/tasks/mc_scorer.h"
#include "eval/tasks/task_discovery.h"
#include "eval/tasks/task_readers.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string p = dir + "/" + name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::string bzip2(const std::string& text) {
  std::string out(text.size() + text.size() / 100 + 1024, '\0');
  unsigned len = static_cast<unsigned>(out.size());
  EXPECT_EQ(BZ2_bzBuffToBuffCompress(out.data(), &len, const_cast<char*>(text.data()),
                                     static_cast<unsigned>(text.size()), 9, 0, 0),
            BZ_OK);
  out.resize(len);
  return out;
}

McTask read_ok(const std::string& path, TaskReadOptions o = {}) {
  auto t = read_task_file(path, o);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? std::move(t).value() : McTask{};
}

TEST(EvalTasks, ArcLayout) {
  const std::string d = test::temp_dir();
  const std::string p = write_file(
      d, "arc.jsonl",
      R"({"id":"q1","question":{"stem":"Which is hot?","choices":[{"text":"ice","label":"A"},{"text":"fire","label":"B"}]},"answerKey":"B"})"
      "\n"
      R"({"id":"q2","question":{"stem":"Two?","choices":[{"text":"1","label":"1"},{"text":"2","label":"2"},{"text":"3","label":"3"}]},"answerKey":"2"})"
      "\n");
  McTask t = read_ok(p);
  EXPECT_EQ(t.layout, "arc");
  EXPECT_EQ(t.name, "arc");
  ASSERT_EQ(t.questions.size(), 2u);
  EXPECT_EQ(t.questions[0].label, 1);
  EXPECT_EQ(t.questions[0].choices[1].context, "Question: Which is hot?\nAnswer:");
  EXPECT_EQ(t.questions[0].choices[1].continuation, " fire");
  EXPECT_EQ(t.questions[1].label, 1);  // numeric answer keys match the choice labels
  EXPECT_EQ(t.questions[1].id, "q2");
  EXPECT_EQ(t.questions[1].where, p + ":2");
}

TEST(EvalTasks, PiqaWithLabelsFileAndMissingLabels) {
  const std::string d = test::temp_dir();
  const std::string p = write_file(
      d, "dev.jsonl",
      "{\"goal\": \"Open a jar\", \"sol1\": \"twist the lid\", \"sol2\": \"eat the lid\"}\n"
      "{\"goal\": \"Dry hair\", \"sol1\": \"use water\", \"sol2\": \"use a towel\"}\n");
  write_file(d, "dev-labels.lst", "0\n1\n");
  McTask t = read_ok(p);
  EXPECT_EQ(t.layout, "piqa");
  ASSERT_EQ(t.questions.size(), 2u);
  EXPECT_EQ(t.questions[0].label, 0);
  EXPECT_EQ(t.questions[1].label, 1);
  EXPECT_EQ(t.questions[1].choices[1].continuation, " use a towel");
  const std::string d2 = test::temp_dir();
  const std::string q =
      write_file(d2, "dev.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n");
  auto e = read_task_file(q);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("dev.jsonl:1"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find("labels"), std::string::npos);
  write_file(d2, "dev-labels.lst", "zero\n");
  e = read_task_file(q);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("dev-labels.lst:1"), std::string::npos)
      << e.status().message();
}

TEST(EvalTasks, WinograndePartialScoring) {
  const std::string d = test::temp_dir();
  const std::string p = write_file(
      d, "wino.jsonl",
      R"({"qID":"x-1","sentence":"Sarah was taller than Maria so _ reached the shelf.","option1":"Sarah","option2":"Maria","answer":"1"})"
      "\n");
  McTask t = read_ok(p);
  EXPECT_EQ(t.layout, "winogrande");
  ASSERT_EQ(t.questions.size(), 1u);
  const McQuestion& q = t.questions[0];
  EXPECT_EQ(q.label, 0);
  EXPECT_EQ(q.choices[0].context, "Sarah was taller than Maria so Sarah");
  EXPECT_EQ(q.choices[1].context, "Sarah was taller than Maria so Maria");
  EXPECT_EQ(q.choices[0].continuation, " reached the shelf.");
}

TEST(EvalTasks, BoolqAndGeneric) {
  const std::string d = test::temp_dir();
  McTask b =
      read_ok(write_file(d, "boolq.jsonl",
                         R"({"question":"is water wet","passage":"Water is wet.","label":"true"})"
                         "\n"
                         R"({"question":"is fire cold","passage":"Fire is hot.","label":false})"
                         "\n"));
  EXPECT_EQ(b.layout, "boolq");
  EXPECT_EQ(b.questions[0].label, 1);
  EXPECT_EQ(b.questions[1].label, 0);
  EXPECT_EQ(b.questions[0].choices[0].context, "Water is wet.\nQuestion: is water wet?\nAnswer:");
  EXPECT_EQ(b.questions[0].choices[1].continuation, " yes");
  McTask g = read_ok(write_file(
      d, "gen.jsonl",
      R"({"context":"The sky is","choices":["blue","green"],"label":0})"
      "\n"
      R"({"question":"Capital of France:","choices":[{"text":" Paris"},{"text":" Rome"}],"answer":"A"})"
      "\n"));
  EXPECT_EQ(g.layout, "generic");
  EXPECT_EQ(g.questions[0].choices[0].continuation, " blue");
  EXPECT_EQ(g.questions[1].choices[0].continuation, " Paris");
  EXPECT_EQ(g.questions[1].label, 0);
}

TEST(EvalTasks, MalformedLinesNamedWithLineNumbers) {
  const std::string d = test::temp_dir();
  const std::string ok = R"({"context":"a","choices":["x","y"],"label":1})";
  struct Case {
    std::string text, where, what;
  } cases[] = {
      {ok + "\n\n{\"context\": broken\n", ":3", "malformed JSON"},
      {ok + "\n" + R"({"context":"a","choices":["x","y"],"label":5})" + "\n", ":2", "label 5"},
      {ok + "\n" + R"({"context":"a","choices":["x"],"label":0})" + "\n", ":2", "at least 2"},
      {ok + "\n" + R"({"context":"a","choices":[1,2],"label":0})" + "\n", ":2", "choice 0"},
      {ok + "\n" + R"({"context":"a","label":0})" + "\n", ":2", "choices"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string p = write_file(d, fmt::format("bad{}.jsonl", i++), c.text);
    TaskReadOptions o;
    o.layout = "generic";
    auto r = read_task_file(p, o);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.status().message().find(p + c.where), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(c.what), std::string::npos) << r.status().message();
  }
  auto unknown = read_task_file(write_file(d, "u.jsonl", "{\"foo\": 1}\n"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("u.jsonl:1: unknown task layout"), std::string::npos);
}

TEST(EvalTasks, HellaswagTextPlainAndBzip2WithLimit) {
  const std::string d = test::temp_dir();
  std::string text;
  for (int i = 0; i < 3; ++i) {
    text += fmt::format(
        "Cooking: A man cracks egg {}. he\n{}\nfries it.\nsings.\nflies.\nsleeps.\n", i, i % 4);
  }
  const std::string plain = write_file(d, "hs.txt", text);
  const std::string bz = write_file(d, "hs.txt.bz2", bzip2(text));
  TaskReadOptions o;
  o.limit = 2;
  for (const std::string& p : {plain, bz}) {
    McTask t = read_ok(p, o);
    EXPECT_EQ(t.layout, "hellaswag-txt");
    ASSERT_EQ(t.questions.size(), 2u) << p;
    EXPECT_EQ(t.questions[1].label, 1);
    ASSERT_EQ(t.questions[1].choices.size(), 4u);
    EXPECT_EQ(t.questions[1].choices[0].context, "Cooking: A man cracks egg 1. he");
    EXPECT_EQ(t.questions[1].choices[0].continuation, " fries it.");
  }
  auto cut = read_task_file(write_file(d, "cut.txt", text + "ctx\n2\nend a\n"));
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("cut.txt:19"), std::string::npos) << cut.status().message();
  auto bad_label = read_task_file(write_file(d, "lab.txt", "ctx\n7\na\nb\nc\nd\n"));
  ASSERT_FALSE(bad_label.ok());
  EXPECT_NE(bad_label.status().message().find("lab.txt:2"), std::string::npos);
  std::string corrupt = bzip2(text);
  corrupt[corrupt.size() / 2] ^= 0x55;
  auto c = read_text_maybe_bz2(write_file(d, "corrupt.txt.bz2", corrupt));
  test::expect_error(c.status(), ErrorCode::kCorruptFile, {"corrupt.txt.bz2"});
}

// A stub log-likelihood: the continuation's text decides the score, so the test controls which
// choice wins under each normalisation.
LoglikFn stub_loglik(const Tokenizer& tok) {
  return [&tok](const std::vector<TokenizedChoice>& in) -> Result<std::vector<ChoiceLoglik>> {
    std::vector<ChoiceLoglik> out;
    for (const TokenizedChoice& c : in) {
      const std::string text = tok.decode(c.continuation);
      ChoiceLoglik l;
      l.logprob = -5.0;
      if (text.find("right") != std::string::npos) l.logprob = -1.0;
      if (text.find("long") != std::string::npos) l.logprob = -6.0;  // -6 over many bytes
      out.push_back(l);
    }
    return out;
  };
}

TEST(EvalTasks, ScorerBookkeepingWithStub) {
  auto tok = make_tokenizer(make_synthetic_vocab(300));
  ASSERT_TRUE(tok.ok());
  McTask t;
  t.name = "stub";
  for (int i = 0; i < 7; ++i) {  // the right answer at varying positions among 2..4 choices
    McQuestion q;
    const int n = 2 + i % 3;
    for (int c = 0; c < n; ++c)
      q.choices.push_back({"Question " + std::to_string(i), c == i % n ? " right" : " no"});
    q.label = i % n;
    t.questions.push_back(q);
  }
  McScoreOptions o;
  o.max_batch_choices = 5;  // forces several calls, never splitting a question
  o.progress = false;
  int calls = 0;
  const LoglikFn inner = stub_loglik(**tok);
  LoglikFn counting = [&](const std::vector<TokenizedChoice>& in) {
    ++calls;
    EXPECT_LE(in.size(), 5u);
    return inner(in);
  };
  auto r = score_task(t, **tok, counting, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n, 7);
  EXPECT_DOUBLE_EQ(r->acc, 1.0);
  EXPECT_DOUBLE_EQ(r->acc_norm, 1.0);
  EXPECT_GT(calls, 3);
  EXPECT_NEAR(r->chance, (1.0 / 2 + 1.0 / 3 + 1.0 / 4 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4 + 1.0 / 2) / 7,
              1e-12);

  // Raw sums favour the short wrong answer (-5 > -6); per-byte normalisation the long right one.
  McTask n;
  n.name = "norm";
  n.questions.push_back({"", "", {{"Q", " no"}, {"Q", " a long and correct answer"}}, 1});
  o.limit = 0;
  r = score_task(n, **tok, inner, o);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->acc, 0.0);
  EXPECT_DOUBLE_EQ(r->acc_norm, 1.0);
  o.limit = 3;
  r = score_task(t, **tok, inner, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n, 3);
  EXPECT_EQ(argmax_choice({1.0, std::nan(""), 3.0, 3.0}), 2);
}

TEST(EvalTasks, TokenizeChoiceSplitsAtTheContext) {
  auto tok = make_tokenizer(make_synthetic_vocab(300));
  ASSERT_TRUE(tok.ok());
  const TokenizedChoice c = tokenize_choice(**tok, {"Question: sky?\nAnswer:", " blue"}, true);
  ASSERT_FALSE(c.context.empty());
  ASSERT_FALSE(c.continuation.empty());
  EXPECT_EQ(c.context.front(), (*tok)->bos());
  std::vector<int> whole = c.context;
  whole.insert(whole.end(), c.continuation.begin(), c.continuation.end());
  EXPECT_EQ(whole, (*tok)->encode("Question: sky?\nAnswer: blue", true));
}

// The engine's two-pass log-likelihood equals Σ log p from one full forward of each sequence.
TEST(EvalTasks, EngineLoglikMatchesFullForward) {
  LlamaConfig cfg = test::tiny_config();
  auto m = make_random_model(cfg, 11);
  ASSERT_TRUE(m.ok());
  CpuEngine engine(*m);
  EngineLoglikOptions o;
  o.max_seqs = 3;  // 5 requests -> two batches
  const LoglikFn ll = make_engine_loglik(engine, o);
  std::vector<TokenizedChoice> req = {{{1, 5, 9}, {4, 4}},
                                      {{1}, {7}},
                                      {{1, 2, 3, 4, 5, 6}, {8, 9, 10}},
                                      {{1, 9}, {11, 12, 13, 14}},
                                      {std::vector<int>(70, 3), {5, 6}}};
  auto got = ll(req);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  for (size_t i = 0; i < req.size(); ++i) {
    std::vector<int> seq = req[i].context;
    seq.insert(seq.end(), req[i].continuation.begin(), req[i].continuation.end());
    if (seq.size() > static_cast<size_t>(cfg.max_seq))
      seq.erase(seq.begin(), seq.end() - cfg.max_seq);
    auto cache = engine.make_cache(1, cfg.max_seq);
    ASSERT_TRUE(cache.ok());
    std::vector<float> logits;
    ASSERT_TRUE(engine
                    .forward({{0, seq.data(), static_cast<int>(seq.size())}}, **cache,
                             LogitsMode::kAll, &logits)
                    .ok());
    double want = 0.0;
    const size_t n_cont = req[i].continuation.size(), first = seq.size() - n_cont;
    for (size_t t = first; t < seq.size(); ++t)
      want -= token_nll(logits.data() + (t - 1) * cfg.n_vocab, cfg.n_vocab, seq[t]);
    EXPECT_NEAR((*got)[i].logprob, want, 1e-4 * (1 + std::abs(want))) << "request " << i;
  }
}

TEST(EvalTasks, DiscoveryOfKnownAndLooseLayouts) {
  const std::string d = test::temp_dir();
  std::filesystem::create_directories(d + "/piqa");
  write_file(d + "/piqa", "dev.jsonl", "{}\n");
  std::filesystem::create_directories(d + "/hellaswag");
  write_file(d + "/hellaswag", "hellaswag_val_full.txt.bz2", "x");
  auto f = discover_tasks(d);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].name, "piqa");
  EXPECT_EQ((*f)[1].name, "hellaswag");
  test::expect_error(discover_tasks(d, "arc_easy").status(), ErrorCode::kInvalidArgument,
                     {"--task-names", "'arc_easy'"});
  const std::string loose = test::temp_dir();
  write_file(loose, "b.jsonl", "{}\n");
  write_file(loose, "a.txt", "x\n");
  write_file(loose, "a-labels.lst", "0\n");
  f = discover_tasks(loose);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].name, "a");
  test::expect_error(discover_tasks(loose + "/nope.jsonl").status(), ErrorCode::kNotFound,
                     {"nope.jsonl"});
}

TEST(EvalTasks, SharedTaskSetsReadAndScoreOnTheRealModel) {
  LRKV_REQUIRE_SHARED("data/tasks/ARC/ARC-e/ARC-Easy-Test.jsonl");
  LRKV_REQUIRE_SHARED("models/lrkv-mha6/model.bin");
  auto files = discover_tasks(test::shared_path("data/tasks"));
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  EXPECT_EQ(files->size(), 8u);
  for (const TaskFile& f : *files) {
    TaskReadOptions o;
    o.name = f.name;
    o.limit = 5;
    McTask t = read_ok(f.path, o);
    EXPECT_EQ(t.questions.size(), 5u) << f.name;
  }
  auto m = load_model(test::shared_path("models/lrkv-mha6/model.bin"));
  ASSERT_TRUE(m.ok());
  CpuEngine engine(*m);
  TaskReadOptions o;
  o.limit = 8;
  McTask t = read_ok(test::shared_path("data/tasks/ARC/ARC-e/ARC-Easy-Test.jsonl"), o);
  McScoreOptions so;
  so.progress = false;
  auto r = score_task(t, *m->tokenizer, make_engine_loglik(engine, {}), so);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n, 8);
  EXPECT_GE(r->acc, 0.0);
  EXPECT_LE(r->acc, 1.0);
  EXPECT_NEAR(r->chance, 0.25, 0.05);
}

}  // namespace
}  // namespace lrkv
