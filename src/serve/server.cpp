#include "serve/server.h"

#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "serve/http_routes.h"

namespace lrkv::serve {

struct Server::Impl {
  Metrics metrics;
  std::optional<ChatTemplate> chat;
  std::unique_ptr<Scheduler> scheduler;
  RouteContext routes;
  httplib::Server http;
  int port = 0;
  std::thread engine_thread;
  std::thread http_thread;
  bool stopped = false;
};

Result<std::unique_ptr<Server>> Server::start(Engine& engine, std::optional<ChatTemplate> chat,
                                              const ServerOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->chat = std::move(chat);
  LRKV_ASSIGN_OR_RETURN(impl->scheduler, Scheduler::create(engine, o.scheduler, &impl->metrics));
  const Tokenizer& tok = *engine.model().tokenizer;
  RouteContext& r = impl->routes;
  r.scheduler = impl->scheduler.get();
  r.metrics = &impl->metrics;
  r.prompt = {&tok, impl->chat ? &*impl->chat : nullptr, o.scheduler.ctx, longest_piece_bytes(tok)};
  r.limits.max_tokens = o.scheduler.ctx;
  r.model_name = o.model_name;
  r.api_key = o.api_key;
  r.created = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();

  const size_t threads = o.http_threads > 0 ? o.http_threads : std::max(32, 4 * o.scheduler.slots);
  impl->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl->http.set_payload_max_length(o.max_body_bytes);
  install_routes(impl->http, r);
  // httplib listens with a backlog of 5: a burst of clients would overflow it, so the listening
  // socket is remembered and its backlog raised once bound.
  int listen_fd = -1;
  impl->http.set_socket_options([&listen_fd](socket_t fd) {
    httplib::default_socket_options(fd);
    listen_fd = fd;
  });
  impl->port = o.port == 0 ? impl->http.bind_to_any_port(o.host) : o.port;
  if (impl->port < 0 || (o.port != 0 && !impl->http.bind_to_port(o.host, o.port))) {
    return make_error(ErrorCode::kIoError,
                      "--host {} --port {}: cannot listen there (in use, or not an "
                      "address of this machine)",
                      o.host, o.port);
  }
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  impl->engine_thread = std::thread([s = impl->scheduler.get()] { s->run(); });
  impl->http_thread = std::thread([h = &impl->http] { h->listen_after_bind(); });
  // stop() before the listener runs would be lost (httplib ignores it), so wait for it.
  while (!impl->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

int Server::port() const { return impl_->port; }

const Metrics& Server::metrics() const { return impl_->metrics; }

void Server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->scheduler->stop();  // every open request ends (cancelled), so HTTP workers can return
  impl_->engine_thread.join();
  impl_->http.stop();
  impl_->http_thread.join();
}

}  // namespace lrkv::serve
