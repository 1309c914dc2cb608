#include "serve/sse_reader.h"

#include <nlohmann/json.hpp>

namespace lrkv::serve {

std::vector<std::string> SseReader::feed(std::string_view bytes) {
  buf_.append(bytes);
  std::vector<std::string> events;
  size_t end;
  while ((end = buf_.find("\n\n")) != std::string::npos) {
    const std::string event = buf_.substr(0, end);
    buf_.erase(0, end + 2);
    size_t pos = 0;
    std::string data;
    while (pos < event.size()) {  // an event may have several lines; join its data lines
      size_t eol = event.find('\n', pos);
      if (eol == std::string::npos) eol = event.size();
      std::string_view line(event.data() + pos, eol - pos);
      if (line.rfind("data:", 0) == 0) {
        line.remove_prefix(line.size() > 5 && line[5] == ' ' ? 6 : 5);
        if (!data.empty()) data += '\n';
        data += line;
      }
      pos = eol + 1;
    }
    if (data == "[DONE]") {
      done_ = true;
    } else if (!data.empty()) {
      events.push_back(std::move(data));
    }
  }
  return events;
}

std::string choice_text(const std::string& json_text) {
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (!j.is_object()) return "";
  auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array() || choices->empty()) return "";
  const auto& c = (*choices)[0];
  for (const char* outer : {"delta", "message"}) {
    auto o = c.find(outer);
    if (o != c.end() && o->is_object()) {
      auto t = o->find("content");
      return t != o->end() && t->is_string() ? t->get<std::string>() : "";
    }
  }
  auto t = c.find("text");
  return t != c.end() && t->is_string() ? t->get<std::string>() : "";
}

}  // namespace lrkv::serve
