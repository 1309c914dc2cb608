#include "serve/openai_response.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

namespace lrkv::serve {

namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json finish_json(FinishReason r) {
  return r == FinishReason::kNone ? json(nullptr) : json(finish_reason_name(r));
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json envelope(const ResponseId& id, const char* object) {
  return {{"id", id.id}, {"object", object}, {"created", id.created}, {"model", id.model}};
}

bool chat(const ResponseId& id) { return id.endpoint == Endpoint::kChat; }

}  // namespace

ResponseId new_response_id(Endpoint endpoint, const std::string& model) {
  static std::atomic<uint64_t> counter{0};
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const char* prefix = endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl";
  return {endpoint, fmt::format("{}-{:x}{:06x}", prefix, now, ++counter), now, model};
}

std::string completion_body(const ResponseId& id, const std::string& text, FinishReason reason,
                            const Usage& usage) {
  json choice = {{"index", 0}, {"finish_reason", finish_json(reason)}};
  if (chat(id)) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  json j = envelope(id, chat(id) ? "chat.completion" : "text_completion");
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string chunk_body(const ResponseId& id, const std::string& text, FinishReason reason,
                       bool first) {
  json choice = {{"index", 0}, {"finish_reason", finish_json(reason)}};
  if (chat(id)) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || first) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  json j = envelope(id, chat(id) ? "chat.completion.chunk" : "text_completion");
  j["choices"] = json::array({choice});
  return dump(j);
}

std::string usage_chunk_body(const ResponseId& id, const Usage& usage) {
  json j = envelope(id, chat(id) ? "chat.completion.chunk" : "text_completion");
  j["choices"] = json::array();
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string sse_event(const std::string& json_text) { return "data: " + json_text + "\n\n"; }

std::string models_body(const std::string& model, int64_t created) {
  json m = {{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "lrkv"}};
  return dump(json{{"object", "list"}, {"data", json::array({m})}});
}

}  // namespace lrkv::serve
