// Passkey retrieval: the generator sizes prompts in tokens and places the needle at the requested
// depth, keys are seeded, the exact-match scorer reads the first number generated, and the
// batched greedy run produces one cell per (length, depth).
#include "model/cpu_engine.h"
#include "eval/passkey.h"

#include <cmath>

#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

std::unique_ptr<Tokenizer> synthetic_tokenizer() {
  auto tok = make_tokenizer(make_synthetic_vocab(300));
  EXPECT_TRUE(tok.ok());
  return std::move(tok).value();
}

// Fraction of the filler text (between header and question) that precedes the needle, by bytes.
double needle_depth_in_text(const PasskeySample& s) {
  const size_t header_end = s.prompt.find('\n') + 1;
  const size_t question = s.prompt.rfind("\nWhat is the pass key?");
  const std::string needle =
      " The pass key is " + s.key + ". Remember it. " + s.key + " is the pass key.";
  const size_t at = s.prompt.find(needle);
  EXPECT_NE(at, std::string::npos);
  const double filler = static_cast<double>(question - header_end - needle.size());
  return (at - header_end) / filler;
}

TEST(Passkey, NeedleAtRequestedDepthWithinLength) {
  auto tok = synthetic_tokenizer();
  for (int len : {600, 1500}) {
    for (double depth : {0.0, 0.25, 0.5, 0.9, 1.0}) {
      auto s = make_passkey_sample(*tok, len, depth, 7);
      ASSERT_TRUE(s.ok()) << s.status().to_string();
      EXPECT_LE(static_cast<int>(s->tokens.size()), len);
      EXPECT_GE(s->filler_units, 1);
      // Within one filler unit of the request, and the text agrees with the bookkeeping.
      EXPECT_LE(std::abs(s->depth - depth), 0.5 / s->filler_units + 1e-12) << len << " " << depth;
      EXPECT_NEAR(needle_depth_in_text(*s), s->depth, 1e-9);
      EXPECT_EQ(s->tokens.front(), tok->bos());
    }
  }
  // Longer budgets use most of the room: adding one more filler unit would not fit.
  auto s = make_passkey_sample(*tok, 1500, 0.5, 7);
  ASSERT_TRUE(s.ok());
  EXPECT_GT(static_cast<int>(s->tokens.size()),
            1500 - 2 * static_cast<int>(tok->encode(" The grass is green. The sky is blue. The sun "
                                                    "is yellow. Here we go. There and back again.",
                                                    false)
                                            .size()));
}

TEST(Passkey, KeysAreSeededAndErrorsNamed) {
  auto tok = synthetic_tokenizer();
  auto a = make_passkey_sample(*tok, 800, 0.5, 42), b = make_passkey_sample(*tok, 800, 0.5, 42);
  auto c = make_passkey_sample(*tok, 800, 0.5, 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->key, b->key);
  EXPECT_EQ(a->prompt, b->prompt);
  EXPECT_NE(a->key, c->key);
  EXPECT_EQ(a->key.size(), 5u);
  EXPECT_NE(a->key[0], '0');
  EXPECT_FALSE(make_passkey_sample(*tok, 10, 0.5, 1).ok());
  EXPECT_FALSE(make_passkey_sample(*tok, 800, 1.5, 1).ok());
}

TEST(Passkey, ExactMatchScorer) {
  EXPECT_EQ(first_digit_run(" 12345. Remember"), "12345");
  EXPECT_EQ(first_digit_run("no digits"), "");
  EXPECT_TRUE(passkey_matches(" 12345.", "12345"));
  EXPECT_TRUE(passkey_matches("12345", "12345"));
  EXPECT_FALSE(passkey_matches(" 1234", "12345"));
  EXPECT_FALSE(passkey_matches(" 123456", "12345"));
  EXPECT_FALSE(passkey_matches(" 99 then 12345", "12345"));
  EXPECT_FALSE(passkey_matches("", ""));
  EXPECT_EQ(default_passkey_lengths(512, 11), (std::vector<int>{125, 250, 501}));
}

TEST(Passkey, BatchedRunOnARandomModel) {
  LlamaConfig cfg = test::tiny_config();
  cfg.max_seq = 1024;
  auto m = make_random_model(cfg, 3);
  ASSERT_TRUE(m.ok());
  CpuEngine engine(*m);
  PasskeyOptions o;
  o.lengths = {700, 1000};
  o.depths = {0.2, 0.8};
  o.trials = 2;
  o.progress = false;
  auto r = run_passkey(engine, *m->tokenizer, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->cells.size(), 4u);
  EXPECT_EQ(r->cells[3].length, 1000);
  EXPECT_EQ(r->cells[3].depth, 0.8);
  EXPECT_EQ(r->cells[3].trials, 2);
  EXPECT_GE(r->accuracy, 0.0);
  EXPECT_LE(r->accuracy, 0.25);  // a random model does not find 5-digit keys
  o.lengths = {cfg.max_seq + 100};
  EXPECT_FALSE(run_passkey(engine, *m->tokenizer, o).ok());  // the cache cannot hold it
}

}  // namespace
}  // namespace lrkv
