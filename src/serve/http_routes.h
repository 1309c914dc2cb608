// HTTP routes of `lrkv serve` on a cpp-httplib server (used by server.cpp; tests go through
// Server). HTTP threads only parse, validate, enqueue and then wait/stream; the engine thread
// does all model work.
//   POST /v1/completions, /v1/chat/completions   JSON, or SSE with "stream": true
//   GET  /v1/models, /health, /metrics
// With an API key every route except /health needs "Authorization: Bearer KEY" (401 otherwise).
// Every error body has OpenAI's shape (api_error.h), including httplib's own 404/413.
#pragma once

#include <httplib.h>

#include <string>

#include "serve/api_request.h"
#include "serve/metrics.h"
#include "serve/prompt_builder.h"
#include "serve/scheduler.h"

namespace lrkv::serve {

struct RouteContext {
  Scheduler* scheduler = nullptr;
  Metrics* metrics = nullptr;
  PromptContext prompt;
  RequestLimits limits;
  std::string model_name;
  std::string api_key;  // empty: no authentication
  int64_t created = 0;  // server start, unix seconds (GET /v1/models)
};

// Installs every route, the auth check and the error handler. `ctx` must outlive `http`.
void install_routes(httplib::Server& http, const RouteContext& ctx);

// The generation endpoints (http_generation.cpp).
void handle_generation(const RouteContext& ctx, Endpoint endpoint, const httplib::Request& req,
                       httplib::Response& res);

// Writes `e` as the response.
void reply_error(httplib::Response& res, const ApiError& e);

}  // namespace lrkv::serve
