// Sequence: one request while the scheduler runs it: its KV slot, how much of the prompt is in
// the cache, the sampler, the detokenizer (with the prompt as context, so the first piece keeps
// its leading space) and the stop-string filter — the same per-token steps as generate()
// (model/generate.h), one step per scheduler iteration. Owned and touched only by the engine
// thread.
#pragma once

#include <memory>
#include <vector>

#include "model/generate.h"
#include "model/sampler.h"
#include "model/tokenizer.h"
#include "serve/generation_request.h"
#include "serve/request_stream.h"

namespace lrkv::serve {

class Sequence {
 public:
  Sequence(GenerationRequest req, std::shared_ptr<RequestStream> stream, const Tokenizer& tok);

  const GenerationRequest& request() const { return req_; }
  RequestStream& stream() { return *stream_; }
  int slot = -1;        // KV cache sequence index while running
  int prefilled = 0;    // context tokens already in the cache
  int next_token = -1;  // accepted, not yet in the cache (the next decode input)
  int preemptions = 0;

  int prompt_tokens() const { return static_cast<int>(req_.prompt.size()); }
  // What must be in the cache before decoding (resumes): the prompt, or after a preemption the
  // prompt and every generated token but the pending next_token.
  const std::vector<int>& context() const { return context_; }
  int context_tokens() const { return static_cast<int>(context_.size()); }
  bool prefilling() const { return prefilled < context_tokens(); }
  // Prefilling the context of a preempted sequence: its end does not sample (next_token waits).
  bool resuming() const { return next_token >= 0; }
  // The scheduler took its cache away: the context becomes prompt + generated tokens in the
  // cache, to be recomputed when it runs again. Streamed text and the sampler are kept.
  void preempt();
  int generated() const { return generated_; }
  // The tokens whose rows the cache holds, in order: the prompt, then the accepted tokens (the
  // cache has the first cache.length(slot) of them; the pending next_token is not in it yet).
  std::vector<int> token_stream() const;
  Usage usage() const { return {prompt_tokens(), generated_}; }

  // The request's sampler; the scheduler moves it into forward_sample's batch and back.
  Sampler& sampler() { return sampler_; }
  // Accepts a sampled token: a stop token, stop string or max_tokens ends the sequence (returns
  // the reason), else its text goes to the stream and next_token is set. kNone = keep going.
  FinishReason accept(int token);

 private:
  // At the end: sends the decoder's and the matcher's held-back text; true if it held a stop
  // string.
  bool release_tail();

  GenerationRequest req_;
  std::shared_ptr<RequestStream> stream_;
  Sampler sampler_;
  StreamDecoder decoder_;
  StopFilter stops_;
  int generated_ = 0;
  std::vector<int> context_;
  std::vector<int> history_;  // accepted tokens, the pending next_token last
};

}  // namespace lrkv::serve
