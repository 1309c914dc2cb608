#include "serve/stop_matcher.h"

namespace lrkv::serve {

std::string StopMatcher::push(const std::string& text) {
  if (stopped_) return "";
  held_ += text;
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Keep the shortest tail that is a proper prefix of some stop string.
  size_t keep_from = held_.size();
  for (const std::string& s : stops_) {
    const size_t max_tail = std::min(s.size() - 1, held_.size());
    for (size_t tail = max_tail; tail > 0; --tail) {
      if (held_.compare(held_.size() - tail, tail, s, 0, tail) == 0) {
        keep_from = std::min(keep_from, held_.size() - tail);
        break;
      }
    }
  }
  std::string out = held_.substr(0, keep_from);
  held_.erase(0, keep_from);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return stopped_ ? std::string() : out;
}

}  // namespace lrkv::serve
