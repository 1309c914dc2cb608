#include "serve/http_routes.h"

#include "serve/openai_response.h"

namespace lrkv::serve {

namespace {

using httplib::Request;
using httplib::Response;
using httplib::Server;

// Constant-time comparison (the key must not leak through timing).
bool same_secret(const std::string& a, const std::string& b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned>(a[i] ^ b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0;
}

Server::HandlerResponse check_auth(const RouteContext& ctx, const Request& req, Response& res) {
  if (ctx.api_key.empty() || req.path == "/health") return Server::HandlerResponse::Unhandled;
  const std::string header = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (header.rfind(prefix, 0) == 0 && same_secret(header.substr(prefix.size()), ctx.api_key)) {
    return Server::HandlerResponse::Unhandled;
  }
  ++ctx.metrics->requests_unauthorized;
  reply_error(
      res, ApiError{401, "missing or invalid API key: send the header 'Authorization: Bearer KEY'",
                    "invalid_request_error", "", "invalid_api_key"});
  return Server::HandlerResponse::Handled;
}

// httplib's own errors (no route, body too large, bad request line) get an OpenAI body.
Server::HandlerResponse fill_error(const Request& req, Response& res) {
  if (!res.body.empty()) return Server::HandlerResponse::Unhandled;
  std::string msg;
  switch (res.status) {
    case 404:
      msg = "no route " + req.method + " " + req.path;
      break;
    case 413:
      msg = "the request body is larger than the server's limit";
      break;
    default:
      msg = "bad request (HTTP " + std::to_string(res.status) + ")";
      break;
  }
  const ApiError e{res.status, msg, res.status == 404 ? "not_found_error" : "invalid_request_error",
                   "", ""};
  res.set_content(e.to_json(), "application/json");
  return Server::HandlerResponse::Handled;
}

}  // namespace

void reply_error(Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.set_content(e.to_json(), "application/json");
}

void install_routes(Server& http, const RouteContext& ctx) {
  http.set_pre_routing_handler(
      [&ctx](const Request& req, Response& res) { return check_auth(ctx, req, res); });
  http.set_error_handler(Server::HandlerWithResponse(fill_error));
  http.Post("/v1/completions", [&ctx](const Request& req, Response& res) {
    handle_generation(ctx, Endpoint::kCompletions, req, res);
  });
  http.Post("/v1/chat/completions", [&ctx](const Request& req, Response& res) {
    handle_generation(ctx, Endpoint::kChat, req, res);
  });
  http.Get("/v1/models", [&ctx](const Request&, Response& res) {
    res.set_content(models_body(ctx.model_name, ctx.created), "application/json");
  });
  http.Get("/health", [](const Request&, Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  http.Get("/metrics", [&ctx](const Request&, Response& res) {
    res.set_content(ctx.metrics->render(), "text/plain; version=0.0.4");
  });
}

}  // namespace lrkv::serve
