// Server: `lrkv serve` in one object — the scheduler on its engine thread and the HTTP server on
// its own listener thread (plus httplib's worker pool). start() binds before returning, so
// port() is usable at once (port 0 picks a free port); stop() finishes every open request as
// cancelled, closes the listener and joins the threads. Tests run it in-process.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "model/engine.h"
#include "serve/chat_template.h"
#include "serve/metrics.h"
#include "serve/scheduler.h"

namespace lrkv::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port
  std::string api_key;              // empty: no authentication
  std::string model_name = "lrkv";  // GET /v1/models and the "model" of responses
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int http_threads = 0;             // 0: max(32, 4 * slots)
  SchedulerOptions scheduler;
};

class Server {
 public:
  // `engine` must outlive the server. `chat` null: the chat endpoint answers 400.
  static Result<std::unique_ptr<Server>> start(Engine& engine, std::optional<ChatTemplate> chat,
                                               const ServerOptions& options);
  ~Server();
  int port() const;
  const Metrics& metrics() const;
  void stop();  // idempotent

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lrkv::serve
