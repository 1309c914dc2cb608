// ApiRequest: the fields of an OpenAI /v1/completions or /v1/chat/completions body that lrkv
// honours, parsed and type/range-checked by parse_api_request. Unknown fields are ignored (as
// OpenAI-compatible servers do); fields whose only supported value is the default (n,
// logprobs, echo, best_of) are rejected otherwise. Prompt-length checks need the tokenizer and
// happen later (prompt_builder.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/api_error.h"

namespace lrkv::serve {

enum class Endpoint { kCompletions, kChat };

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

struct ApiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;                  // echoed back; any name is accepted
  std::string prompt;                 // completions
  std::vector<ChatMessage> messages;  // chat (non-empty)
  std::optional<int> max_tokens;      // absent: completions 16, chat the rest of the context
  float temperature = 1.0f;           // OpenAI's default; 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;                  // extension (llama.cpp, vLLM); 0 = no cut
  std::optional<uint64_t> seed;   // absent: a random seed per request
  std::vector<std::string> stop;  // up to kMaxStops non-empty strings
  bool ignore_eos = false;        // extension (llama.cpp, vLLM): only max_tokens/stop end it
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a final usage chunk
};

struct RequestLimits {
  int max_tokens = 4096;  // upper bound for max_tokens (the context length)
  static constexpr size_t kMaxStops = 4;
  static constexpr size_t kMaxStopBytes = 256;
  static constexpr size_t kMaxMessages = 1024;
};

// Parses and validates a request body. Errors are 400 invalid_request_error naming the field.
ApiResult<ApiRequest> parse_api_request(Endpoint endpoint, std::string_view body,
                                        const RequestLimits& limits);

}  // namespace lrkv::serve
