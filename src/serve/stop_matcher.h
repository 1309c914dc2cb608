// StopMatcher: finds stop strings in streamed text without ever emitting part of one. Text that
// could be the start of a stop string is held back until it is ruled out; at a match the text
// before it is released and the rest is dropped. Input must be whole UTF-8 characters (as
// StreamDecoder gives), so released text is too.
#pragma once

#include <string>
#include <vector>

namespace lrkv::serve {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns what can be shown now. After a match, stopped() is true and further
  // input is ignored.
  std::string push(const std::string& text);
  // The held-back tail (generation ended without a match).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace lrkv::serve
