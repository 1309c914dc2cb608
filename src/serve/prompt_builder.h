// prompt_builder: ApiRequest -> GenerationRequest. Tokenizes the prompt (completions) or renders
// the messages with the chat template (chat), checks the prompt against the context length, and
// fills in the max_tokens default and the sampler. Runs on HTTP threads (everything it reads is
// const).
#pragma once

#include "model/tokenizer.h"
#include "serve/api_request.h"
#include "serve/chat_template.h"
#include "serve/generation_request.h"

namespace lrkv::serve {

struct PromptContext {
  const Tokenizer* tok = nullptr;
  const ChatTemplate* chat = nullptr;  // null: the chat endpoint is unavailable (400)
  int ctx = 0;                         // tokens per sequence (prompt + completion)
  // The longest token piece in bytes: a text longer than ctx * this cannot fit, so it is
  // rejected before tokenizing (tokenizing megabytes would hold an HTTP thread for long).
  size_t max_piece_bytes = 1;
};

// max_piece_bytes for `tok`.
size_t longest_piece_bytes(const Tokenizer& tok);

// Errors: 400 with code context_length_exceeded when the prompt (param prompt / messages) or
// prompt + max_tokens (param max_tokens) exceeds ctx.
ApiResult<GenerationRequest> build_generation(const ApiRequest& r, const PromptContext& c);

}  // namespace lrkv::serve
