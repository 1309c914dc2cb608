#include "eval/passkey.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/progress.h"

namespace lrkv {

namespace {

constexpr const char* kHeader =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there.\n";
constexpr const char* kFiller =
    " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
constexpr const char* kQuestion = "\nWhat is the pass key? The pass key is";

std::string needle(const std::string& key) {
  return " The pass key is " + key + ". Remember it. " + key + " is the pass key.";
}

std::string build_prompt(int units, int before, const std::string& key) {
  std::string p = kHeader;
  for (int i = 0; i < before; ++i) p += kFiller;
  p += needle(key);
  for (int i = before; i < units; ++i) p += kFiller;
  return p + kQuestion;
}

std::string random_key(uint64_t seed, int digits) {
  std::mt19937_64 rng(seed);
  std::string key(1, static_cast<char>('1' + rng() % 9));
  for (int i = 1; i < digits; ++i) key += static_cast<char>('0' + rng() % 10);
  return key;
}

// A stable per-sample seed from the run seed and the sample's coordinates.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  uint64_t h = seed ^ 0x9E3779B97F4A7C15ull;
  for (uint64_t v : {a, b, c}) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ull;
  }
  return h;
}

}  // namespace

Result<PasskeySample> make_passkey_sample(const Tokenizer& tok, int max_tokens, double depth,
                                          uint64_t seed, int digits, bool add_bos) {
  if (!(depth >= 0.0 && depth <= 1.0)) {
    return make_error(ErrorCode::kInvalidArgument, "passkey depth {} outside [0, 1]", depth);
  }
  if (digits < 1 || digits > 18)
    return make_error(ErrorCode::kInvalidArgument, "passkey digits {} outside 1..18", digits);
  PasskeySample s;
  s.key = random_key(seed, digits);
  const int fixed = static_cast<int>(tok.encode(build_prompt(0, 0, s.key), add_bos).size());
  const int unit = std::max<int>(1, static_cast<int>(tok.encode(kFiller, false).size()));
  int units = (max_tokens - fixed) / unit;
  while (units >= 1) {  // the estimate is close; step down until the real tokenization fits
    const int before = static_cast<int>(std::lround(depth * units));
    s.prompt = build_prompt(units, before, s.key);
    s.tokens = tok.encode(s.prompt, add_bos);
    if (static_cast<int>(s.tokens.size()) <= max_tokens) {
      s.filler_units = units;
      s.units_before = before;
      s.depth = static_cast<double>(before) / units;
      return s;
    }
    --units;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "passkey length {} tokens: too short for the prompt ({} tokens "
                    "without filler, {} per filler unit)",
                    max_tokens, fixed, unit);
}

std::string first_digit_run(const std::string& text) {
  size_t a = 0;
  while (a < text.size() && !(text[a] >= '0' && text[a] <= '9')) ++a;
  size_t b = a;
  while (b < text.size() && text[b] >= '0' && text[b] <= '9') ++b;
  return text.substr(a, b - a);
}

bool passkey_matches(const std::string& generated, const std::string& key) {
  return !key.empty() && first_digit_run(generated) == key;
}

std::vector<int> default_passkey_lengths(int max_seq, int max_new) {
  const int top = max_seq - max_new;
  std::vector<int> v;
  for (int len : {top / 4, top / 2, top}) {
    if (len >= 64 && (v.empty() || v.back() != len)) v.push_back(len);
  }
  return v;
}

namespace {

// Greedy continuation of every sample, batched; returns the decoded texts.
Result<std::vector<std::string>> greedy_batch(Engine& engine, const Tokenizer& tok,
                                              const std::vector<PasskeySample>& samples,
                                              int max_new, const KvCacheSpec& kv) {
  const int n = static_cast<int>(samples.size());
  int longest = 0;
  for (const auto& s : samples) longest = std::max(longest, static_cast<int>(s.tokens.size()));
  LRKV_ASSIGN_OR_RETURN(auto cache, engine.make_cache(n, longest + max_new, kv));
  std::vector<SeqSpan> spans;
  for (int i = 0; i < n; ++i)
    spans.push_back({i, samples[i].tokens.data(), static_cast<int>(samples[i].tokens.size())});
  std::vector<float> logits;
  LRKV_RETURN_IF_ERROR(engine.forward(spans, *cache, LogitsMode::kLast, &logits));
  const int64_t V = engine.config().n_vocab;
  std::vector<std::vector<int>> gen(n);
  std::vector<int> next(n);
  std::vector<bool> done(n, false);
  for (int step = 0; step < max_new; ++step) {
    std::vector<int> active;
    for (int i = 0, row = 0; i < n; ++i) {
      if (done[i]) continue;
      const float* x = logits.data() + static_cast<int64_t>(row++) * V;
      next[i] = static_cast<int>(std::max_element(x, x + V) - x);
      if (next[i] == tok.eos()) {
        done[i] = true;
        continue;
      }
      gen[i].push_back(next[i]);
      active.push_back(i);
    }
    if (active.empty() || step + 1 == max_new) break;
    spans.clear();
    for (int i : active) spans.push_back({i, &next[i], 1});
    LRKV_RETURN_IF_ERROR(engine.forward(spans, *cache, LogitsMode::kLast, &logits));
  }
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(tok.decode(gen[i]));
  return out;
}

}  // namespace

Result<PasskeyResult> run_passkey(Engine& engine, const Tokenizer& tok, const PasskeyOptions& o) {
  PasskeyResult r;
  r.max_new_tokens = passkey_max_new_tokens(o.digits);
  const std::vector<int> lengths =
      o.lengths.empty() ? default_passkey_lengths(engine.config().max_seq, r.max_new_tokens)
                        : o.lengths;
  if (lengths.empty() || o.depths.empty() || o.trials < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "passkey: need at least one length, depth and trial");
  }
  for (int len : lengths) {
    if (len + r.max_new_tokens > engine.config().max_seq) {
      return make_error(ErrorCode::kInvalidArgument,
                        "passkey length {} + {} generated tokens exceeds the model's "
                        "context {}",
                        len, r.max_new_tokens, engine.config().max_seq);
    }
  }
  Progress progress("passkey", static_cast<int64_t>(lengths.size()), "len");
  if (!o.progress) progress.disable();
  int total = 0, correct = 0;
  for (size_t li = 0; li < lengths.size(); ++li) {
    std::vector<PasskeySample> samples;
    for (size_t di = 0; di < o.depths.size(); ++di) {
      for (int t = 0; t < o.trials; ++t) {
        LRKV_ASSIGN_OR_RETURN(PasskeySample s,
                              make_passkey_sample(tok, lengths[li], o.depths[di],
                                                  mix_seed(o.seed, lengths[li], di, t), o.digits));
        samples.push_back(std::move(s));
      }
    }
    LRKV_ASSIGN_OR_RETURN(auto texts,
                          greedy_batch(engine, tok, samples, r.max_new_tokens, o.kv_type));
    for (size_t di = 0; di < o.depths.size(); ++di) {
      PasskeyCell c{lengths[li], o.depths[di], o.trials, 0};
      for (int t = 0; t < o.trials; ++t) {
        const size_t k = di * o.trials + t;
        c.correct += passkey_matches(texts[k], samples[k].key);
      }
      total += c.trials;
      correct += c.correct;
      r.cells.push_back(c);
    }
    progress.add(1);
    progress.set_note(fmt::format("acc {:.2f}", static_cast<double>(correct) / total));
  }
  progress.finish();
  r.accuracy = static_cast<double>(correct) / total;
  return r;
}

}  // namespace lrkv
