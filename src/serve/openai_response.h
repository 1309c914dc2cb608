// OpenAI response bodies: whole completions, SSE chunks and the model list. Text is UTF-8 (the
// detokenizer replaces invalid tails), dumped with invalid bytes replaced rather than thrown on.
#pragma once

#include <cstdint>
#include <string>

#include "serve/api_request.h"
#include "serve/request_stream.h"

namespace lrkv::serve {

// Identity of one response: "cmpl-..."/"chatcmpl-..." id, creation time, model name.
struct ResponseId {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;
  int64_t created = 0;  // unix seconds
  std::string model;
};

// A fresh id for `endpoint` (unique within the process).
ResponseId new_response_id(Endpoint endpoint, const std::string& model);

// The non-streaming body: text_completion or chat.completion with usage.
std::string completion_body(const ResponseId& id, const std::string& text, FinishReason reason,
                            const Usage& usage);
// One streamed chunk. `first` (chat only) carries the assistant role; a chunk with a
// finish reason other than kNone is the last content chunk.
std::string chunk_body(const ResponseId& id, const std::string& text, FinishReason reason,
                       bool first);
// The final usage chunk of stream_options.include_usage (empty choices).
std::string usage_chunk_body(const ResponseId& id, const Usage& usage);
// "data: <json>\n\n".
std::string sse_event(const std::string& json);
// GET /v1/models.
std::string models_body(const std::string& model, int64_t created);

}  // namespace lrkv::serve
