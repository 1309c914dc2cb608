#include "serve/api_request.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace lrkv::serve {

namespace {

using nlohmann::json;

const char* type_name(const json& v) { return v.is_number_integer() ? "integer" : v.type_name(); }

ApiError wrong_type(const std::string& field, const char* expected, const json& v) {
  return invalid_param(field, "'{}': expected {}, got {}", field, expected, type_name(v));
}

// Reads an optional number field in [lo, hi] into *out; absent or null leaves *out as is.
std::optional<ApiError> read_number(const json& body, const char* field, double lo, double hi,
                                    float* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(field, "a number", *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    return invalid_param(field, "'{}': expected a number in [{}, {}], got {}", field, lo, hi, v);
  }
  *out = static_cast<float>(v);
  return std::nullopt;
}

// Reads an optional integer field in [lo, hi].
std::optional<ApiError> read_int(const json& body, const char* field, int64_t lo, int64_t hi,
                                 std::optional<int64_t>* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return wrong_type(field, "an integer", *it);
  // Non-negative JSON integers are stored unsigned (and may exceed INT64_MAX).
  const bool out_of_range = it->is_number_unsigned()
                                ? it->get<uint64_t>() > static_cast<uint64_t>(hi) ||
                                      (lo > 0 && it->get<uint64_t>() < static_cast<uint64_t>(lo))
                                : it->get<int64_t>() < lo || it->get<int64_t>() > hi;
  if (out_of_range) {
    return invalid_param(field, "'{}': expected an integer in [{}, {}], got {}", field, lo, hi,
                         it->dump());
  }
  *out = it->get<int64_t>();
  return std::nullopt;
}

std::optional<ApiError> read_bool(const json& body, const char* field, bool* out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return wrong_type(field, "a boolean", *it);
  *out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> read_stop(const json& body, std::vector<std::string>* out) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return std::nullopt;
  json list = it->is_string() ? json::array({*it}) : *it;
  if (!list.is_array()) return wrong_type("stop", "a string or an array of strings", *it);
  if (list.size() > RequestLimits::kMaxStops) {
    return invalid_param("stop", "'stop': expected at most {} strings, got {}",
                         RequestLimits::kMaxStops, list.size());
  }
  for (const json& s : list) {
    if (!s.is_string()) return wrong_type("stop", "strings", s);
    const auto& str = s.get_ref<const std::string&>();
    if (str.empty() || str.size() > RequestLimits::kMaxStopBytes) {
      return invalid_param("stop", "'stop': expected strings of 1 to {} bytes, got {} bytes",
                           RequestLimits::kMaxStopBytes, str.size());
    }
    out->push_back(str);
  }
  return std::nullopt;
}

// Fields lrkv does not implement beyond their default value.
std::optional<ApiError> reject_unsupported(const json& body) {
  auto n = body.find("n");
  if (n != body.end() && !n->is_null() && *n != 1) {
    return invalid_param("n", "'n': only 1 completion per request is supported, got {}", n->dump());
  }
  for (const char* field : {"logprobs", "top_logprobs", "echo", "suffix", "tools", "functions"}) {
    auto it = body.find(field);
    if (it != body.end() && !it->is_null() && *it != false) {
      return invalid_param(field, "'{}' is not supported by this server", field);
    }
  }
  auto best_of = body.find("best_of");
  if (best_of != body.end() && !best_of->is_null() && *best_of != 1) {
    return invalid_param("best_of", "'best_of': only 1 is supported, got {}", best_of->dump());
  }
  return std::nullopt;
}

std::optional<ApiError> read_prompt(const json& body, std::string* out) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return invalid_param("prompt", "'prompt' is required");
  if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    *out = (*it)[0].get<std::string>();
    return std::nullopt;
  }
  if (!it->is_string()) return wrong_type("prompt", "a string (or an array of one string)", *it);
  *out = it->get<std::string>();
  return std::nullopt;
}

// "content": a string, or an array of {"type":"text","text":...} parts (concatenated).
std::optional<ApiError> read_content(const json& m, const std::string& field, std::string* out) {
  auto it = m.find("content");
  if (it == m.end() || it->is_null())
    return invalid_param(field, "'{}.content' is required", field);
  if (it->is_string()) {
    *out = it->get<std::string>();
    return std::nullopt;
  }
  if (!it->is_array())
    return wrong_type(field + ".content", "a string or an array of text parts", *it);
  for (const json& part : *it) {
    auto text = part.is_object() ? part.find("text") : part.end();
    if (!part.is_object() || part.value("type", "") != "text" || text == part.end() ||
        !text->is_string()) {
      return invalid_param(
          field, "'{}.content': expected parts {{\"type\":\"text\",\"text\":string}}", field);
    }
    *out += text->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> read_messages(const json& body, std::vector<ChatMessage>* out) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) return invalid_param("messages", "'messages' is required");
  if (!it->is_array()) return wrong_type("messages", "an array of messages", *it);
  if (it->empty() || it->size() > RequestLimits::kMaxMessages) {
    return invalid_param("messages", "'messages': expected 1 to {} messages, got {}",
                         RequestLimits::kMaxMessages, it->size());
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string field = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return wrong_type(field, "an object", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      return invalid_param(field, "'{}.role': expected a string", field);
    ChatMessage msg{role->get<std::string>(), ""};
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant") {
      return invalid_param(field, "'{}.role': expected system, user or assistant", field);
    }
    if (auto e = read_content(m, field, &msg.content)) return e;
    out->push_back(std::move(msg));
  }
  return std::nullopt;
}

std::optional<ApiError> read_sampling(const json& body, const RequestLimits& limits,
                                      ApiRequest* r) {
  if (auto e = read_number(body, "temperature", 0.0, 2.0, &r->temperature)) return e;
  if (auto e = read_number(body, "top_p", 0.0, 1.0, &r->top_p)) return e;
  std::optional<int64_t> v;
  if (auto e = read_int(body, "top_k", 0, 1 << 30, &v)) return e;
  if (v) r->top_k = static_cast<int>(*v);
  v.reset();
  if (auto e = read_int(body, "seed", INT64_MIN, INT64_MAX, &v)) return e;
  if (v) r->seed = static_cast<uint64_t>(*v);
  // max_completion_tokens is the chat API's newer name; either is accepted.
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    v.reset();
    if (auto e = read_int(body, field, 1, limits.max_tokens, &v)) return e;
    if (v) r->max_tokens = static_cast<int>(*v);
  }
  return std::nullopt;
}

std::optional<ApiError> read_fields(const json& body, const RequestLimits& limits, ApiRequest* r) {
  if (auto e = reject_unsupported(body)) return e;
  auto model = body.find("model");
  if (model != body.end() && !model->is_null()) {
    if (!model->is_string()) return wrong_type("model", "a string", *model);
    r->model = model->get<std::string>();
  }
  if (r->endpoint == Endpoint::kCompletions) {
    if (auto e = read_prompt(body, &r->prompt)) return e;
  } else if (auto e = read_messages(body, &r->messages)) {
    return e;
  }
  if (auto e = read_sampling(body, limits, r)) return e;
  if (auto e = read_stop(body, &r->stop)) return e;
  if (auto e = read_bool(body, "stream", &r->stream)) return e;
  if (auto e = read_bool(body, "ignore_eos", &r->ignore_eos)) return e;
  auto opts = body.find("stream_options");
  if (opts != body.end() && !opts->is_null()) {
    if (!opts->is_object()) return wrong_type("stream_options", "an object", *opts);
    if (auto e = read_bool(*opts, "include_usage", &r->include_usage)) return e;
  }
  return std::nullopt;
}

}  // namespace

ApiResult<ApiRequest> parse_api_request(Endpoint endpoint, std::string_view body,
                                        const RequestLimits& limits) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    std::string what = e.what();
    const size_t cut = what.find("] ");
    if (cut != std::string::npos) what = what.substr(cut + 2);
    return ApiError{400, "could not parse the JSON body: " + what, "invalid_request_error", "", ""};
  }
  if (!j.is_object()) {
    return ApiError{400, fmt::format("the body must be a JSON object, got {}", type_name(j)),
                    "invalid_request_error", "", ""};
  }
  ApiRequest r;
  r.endpoint = endpoint;
  if (auto e = read_fields(j, limits, &r)) return *e;
  return r;
}

}  // namespace lrkv::serve
