// Synthetic long-context retrieval ("passkey", as in Landmark Attention / LongLoRA): a random
// number is hidden at a chosen depth inside repetitive filler text, and the model is asked for it
// at the end; greedy decoding, scored by exact match of the first run of digits generated.
//   header   "There is an important info hidden inside a lot of irrelevant text. ..."
//   filler   " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back
//            again." repeated; the needle " The pass key is 12345. Remember it. 12345 is the pass
//            key." sits after round(depth * units) filler units
//   question "\nWhat is the pass key? The pass key is"
// Prompts are sized in tokens of the model's tokenizer (at most the requested length), and every
// key comes from a seeded generator, so runs are reproducible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cache/kv_cache_spec.h"
#include "core/status.h"
#include "model/engine.h"
#include "model/tokenizer.h"

namespace lrkv {

struct PasskeySample {
  std::string prompt;
  std::string key;          // the digits to retrieve
  std::vector<int> tokens;  // the tokenized prompt (BOS first when add_bos)
  int filler_units = 0;     // filler repetitions in the prompt
  int units_before = 0;     // filler repetitions before the needle
  double depth = 0.0;       // units_before / filler_units: the depth actually used
};

// A prompt of at most `max_tokens` tokens with the needle at `depth` in [0, 1]; the key has
// `digits` digits (no leading zero) drawn from `seed`. Errors when even one filler unit does not
// fit.
Result<PasskeySample> make_passkey_sample(const Tokenizer& tok, int max_tokens, double depth,
                                          uint64_t seed, int digits = 5, bool add_bos = true);

// The first run of ASCII digits in `text` ("" if none).
std::string first_digit_run(const std::string& text);
// Exact match: the first run of digits generated equals the key.
bool passkey_matches(const std::string& generated, const std::string& key);

struct PasskeyOptions {
  std::vector<int> lengths;  // prompt lengths in tokens; empty = 1/4, 1/2, all of the context
  std::vector<double> depths = {0.1, 0.5, 0.9};
  int trials = 4;  // keys per (length, depth)
  int digits = 5;
  uint64_t seed = 1234;
  KvCacheSpec kv_type = DType::kF32;
  bool progress = true;
};

struct PasskeyCell {
  int length = 0;  // requested prompt length
  double depth = 0.0;
  int trials = 0, correct = 0;
};

struct PasskeyResult {
  std::vector<PasskeyCell> cells;
  double accuracy = 0.0;  // over all trials
  int max_new_tokens = 0;
};

// Accuracy of greedy retrieval for every (length, depth); all trials of a length run as one batch.
Result<PasskeyResult> run_passkey(Engine& engine, const Tokenizer& tok,
                                  const PasskeyOptions& options);

// Tokens generated per sample: the key's digits (one token each in Llama-style vocabularies)
// plus a few for the space and punctuation around them.
inline int passkey_max_new_tokens(int digits) { return digits + 6; }

// The default lengths for a model of context `max_seq` leaving room for `max_new` generated tokens.
std::vector<int> default_passkey_lengths(int max_seq, int max_new);

}  // namespace lrkv
