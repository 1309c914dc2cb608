#include "model/generate.h"

#include <algorithm>
#include <chrono>

namespace lrkv {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::string StopFilter::push(const std::string& piece) {
  if (stopped_) return "";
  pending_ += piece;
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) {
    if (s.empty()) continue;
    const size_t at = pending_.find(s);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, cut);
    pending_.clear();
    return out;
  }
  // Hold back the longest suffix of pending_ that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t n = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); n > hold; --n) {
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopFilter::flush() {
  if (stopped_) return "";
  std::string out;
  out.swap(pending_);
  return out;
}

Result<GenerateResult> generate(Engine& engine, KvCache& cache, int seq, const std::vector<int>& prompt,
                                const Tokenizer& tokenizer, const GenerateOptions& o, const PieceFn& on_piece) {
  if (prompt.empty()) return make_error(ErrorCode::kInvalidArgument, "generate: empty prompt");
  if (o.max_new_tokens < 0) {
    return make_error(ErrorCode::kInvalidArgument, "generate: max_new_tokens must be >= 0, got {}", o.max_new_tokens);
  }
  if (seq < 0 || seq >= cache.n_seq() || cache.length(seq) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "generate: sequence {} is not an empty sequence of the cache", seq);
  }
  if (static_cast<int64_t>(prompt.size()) >= cache.capacity()) {
    return make_error(ErrorCode::kInvalidArgument, "prompt has {} tokens, context is {} (raise --ctx)", prompt.size(),
                      cache.capacity());
  }
  GenerateResult r;
  r.prompt_tokens = static_cast<int>(prompt.size());
  r.finish_reason = "length";
  std::vector<Sampler> samplers{Sampler(o.sampling)};
  StreamDecoder decoder(tokenizer, prompt);
  StopFilter filter(o.stop);
  bool cancelled = false;
  auto emit = [&](const std::string& piece) {
    if (piece.empty() || cancelled) return;
    r.text += piece;
    if (on_piece && !on_piece(piece)) cancelled = true;
  };

  std::vector<int> next;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<SeqSpan> spans{{seq, prompt.data(), static_cast<int>(prompt.size())}};
  if (o.max_new_tokens == 0) {
    LRKV_RETURN_IF_ERROR(engine.forward(spans, cache, LogitsMode::kNone, nullptr));
    r.prefill_seconds = seconds_since(t0);
    return r;
  }
  LRKV_RETURN_IF_ERROR(engine.forward_sample(spans, cache, samplers, &next));
  r.prefill_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  while (true) {
    const int token = next[0];
    if (token == tokenizer.eos() && !o.ignore_eos) {
      r.finish_reason = "stop";
      break;
    }
    r.tokens.push_back(token);
    emit(filter.push(decoder.push(token)));
    if (filter.stopped()) {
      r.finish_reason = "stop";
      break;
    }
    if (cancelled) {
      r.finish_reason = "cancelled";
      break;
    }
    if (static_cast<int>(r.tokens.size()) >= o.max_new_tokens || cache.length(seq) >= cache.capacity()) break;
    spans[0] = {seq, &r.tokens.back(), 1};
    LRKV_RETURN_IF_ERROR(engine.forward_sample(spans, cache, samplers, &next));
  }
  if (!filter.stopped() && !cancelled) emit(filter.push(decoder.flush()) + filter.flush());
  r.decode_seconds = seconds_since(t0);
  return r;
}

}  // namespace lrkv
