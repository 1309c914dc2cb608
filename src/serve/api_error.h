// ApiError: an OpenAI-shaped error response, {"error":{"message","type","param","code"}} with its
// HTTP status. Every rejected request gets exactly one of these (4xx for the client's mistakes,
// 5xx only for the server's own failures); the message is one line naming the field and what was
// expected.
#pragma once

#include <fmt/format.h>

#include <string>

namespace lrkv::serve {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";  // or "authentication_error", "server_error", ...
  std::string param;                           // the offending field ("" = none -> null)
  std::string code;                            // machine-readable reason ("" = none -> null)

  // The response body.
  std::string to_json() const;
};

// 400 invalid_request_error about `param`.
template <typename... Args>
ApiError invalid_param(const std::string& param, fmt::format_string<Args...> f, Args&&... args) {
  return ApiError{400, fmt::format(f, std::forward<Args>(args)...), "invalid_request_error", param,
                  ""};
}

// A value or an ApiError (request parsing and validation).
template <typename T>
struct ApiResult {
  ApiResult(T v) : value(std::move(v)), ok(true) {}          // NOLINT: implicit by design
  ApiResult(ApiError e) : error(std::move(e)), ok(false) {}  // NOLINT
  T value{};
  ApiError error;
  bool ok = false;
};

}  // namespace lrkv::serve
