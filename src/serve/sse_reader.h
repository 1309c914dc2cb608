// SseReader: client side of an OpenAI SSE stream. Feed it body bytes as they arrive; it yields
// each complete "data:" event's payload (comments such as ": ping" are skipped) and notices
// "data: [DONE]". Used by bench-serve and the tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lrkv::serve {

class SseReader {
 public:
  // Appends bytes; returns the payloads of the events they completed.
  std::vector<std::string> feed(std::string_view bytes);
  bool done() const { return done_; }  // "[DONE]" seen

 private:
  std::string buf_;
  bool done_ = false;
};

// The text a completion or chat chunk (or whole response) carries: choices[0].text,
// .delta.content or .message.content; "" when absent or not JSON.
std::string choice_text(const std::string& json_text);

}  // namespace lrkv::serve
