#include "serve/sequence.h"

#include <algorithm>

namespace lrkv::serve {

Sequence::Sequence(GenerationRequest req, std::shared_ptr<RequestStream> stream,
                   const Tokenizer& tok)
    : req_(std::move(req)),
      stream_(std::move(stream)),
      sampler_(req_.sampling),
      decoder_(tok, req_.prompt),
      stops_(req_.stop),
      context_(req_.prompt) {}

void Sequence::preempt() {
  slot = -1;
  prefilled = 0;
  ++preemptions;
  if (next_token < 0) return;  // still in its prompt
  context_ = req_.prompt;
  context_.insert(context_.end(), history_.begin(), history_.end() - 1);
}

std::vector<int> Sequence::token_stream() const {
  std::vector<int> t = req_.prompt;
  t.insert(t.end(), history_.begin(), history_.end());
  return t;
}

FinishReason Sequence::accept(int token) {
  ++generated_;
  const auto& st = req_.stop_tokens;
  if (std::find(st.begin(), st.end(), token) != st.end()) {
    release_tail();
    return FinishReason::kStop;
  }
  stream_->append(stops_.push(decoder_.push(token)));
  if (stops_.stopped()) return FinishReason::kStop;
  if (generated_ >= req_.max_tokens)
    return release_tail() ? FinishReason::kStop : FinishReason::kLength;
  next_token = token;
  history_.push_back(token);
  return FinishReason::kNone;
}

bool Sequence::release_tail() {
  stream_->append(stops_.push(decoder_.flush()));
  if (stops_.stopped()) return true;
  stream_->append(stops_.flush());
  return false;
}

}  // namespace lrkv::serve
