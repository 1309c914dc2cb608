// The generation loop every front end shares (lrkv generate, the server's single-request path,
// tests): prefill the prompt, then sample one token per step until a stop condition.
//   logits = forward(prompt);  repeat: t = sample(logits); emit(t); logits = forward(t)
// Stops at max_new_tokens ("length"), at the end-of-sequence token or a stop string ("stop"),
// at the cache's capacity ("length"), or when the callback asks to ("cancelled").
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/engine.h"
#include "model/tokenizer.h"

namespace lrkv {

struct GenerateOptions {
  int max_new_tokens = 128;
  SamplerOptions sampling;
  bool ignore_eos = false;
  std::vector<std::string> stop;  // stop strings: the text ends before the first one
};

struct GenerateResult {
  std::vector<int> tokens;    // generated ids (the EOS token is not included)
  std::string text;           // their text, cut before a stop string
  std::string finish_reason;  // "stop", "length" or "cancelled"
  int prompt_tokens = 0;
  double prefill_seconds = 0.0, decode_seconds = 0.0;
};

// Called with each piece of text as soon as it is printable and known not to start a stop
// string; returning false stops generation ("cancelled").
using PieceFn = std::function<bool(const std::string& piece)>;

// Generates into sequence `seq` of `cache` (which must be empty there) after `prompt`.
Result<GenerateResult> generate(Engine& engine, KvCache& cache, int seq, const std::vector<int>& prompt,
                                const Tokenizer& tokenizer, const GenerateOptions& options,
                                const PieceFn& on_piece = nullptr);

// Text filter for stop strings: holds back the tail that could begin a stop string.
class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Appends `piece`; returns the text now safe to emit. After a stop string is seen, stopped()
  // is true and nothing more is returned.
  std::string push(const std::string& piece);
  std::string flush();  // the held-back tail (no stop string matched)
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace lrkv
