// Helpers for the serve tests: a loaded tiny model, an in-process server on a free loopback port,
// JSON requests, and the single-sequence greedy reference the server must reproduce.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "serve/server.h"
#include "test_util.h"

namespace lrkv::test {

constexpr const char* kStories = "models/stories260K/stories260K.bin";

// stories260K, loaded once per process (null when ../shared is absent).
const Model* stories_model();

// A server on 127.0.0.1 with a free port over its own engine of `model`.
struct TestServer {
  std::unique_ptr<Engine> engine;  // the CPU engine
  std::unique_ptr<serve::Server> server;
  std::unique_ptr<httplib::Client> client() const;
  int port() const { return server->port(); }
};
// Slots/ctx/etc. from `o` (host and port are forced to 127.0.0.1:0). Fails the test on error.
TestServer start_test_server(const Model& model, serve::ServerOptions o,
                             const std::string& chat_template = "llama2");

struct JsonReply {
  int status = 0;  // 0: no response
  nlohmann::json body;
  std::string raw;
};
JsonReply post_json(httplib::Client& cli, const std::string& path, const std::string& body,
                    const std::string& api_key = "");
JsonReply post_json(httplib::Client& cli, const std::string& path, const nlohmann::json& body);

// A streamed request's content chunks concatenated, and the finish_reason of its last chunk.
struct StreamedReply {
  int status = 0;
  std::string text;
  std::string finish_reason;
  int chunks = 0;
  bool done = false;  // [DONE] seen
  int completion_tokens = -1;  // from the usage chunk (stream_options.include_usage)
};
StreamedReply post_stream(httplib::Client& cli, const std::string& path, nlohmann::json body);

// The text the single-sequence generation loop (model/generate.h, what `lrkv generate --temp 0`
// prints) gives after `prompt`.
std::string reference_greedy(const Model& model, const std::string& prompt, int max_tokens);

// The value of a Prometheus metric line "lrkv_<name> <v>" (-1 when absent).
long metric(httplib::Client& cli, const std::string& name);

}  // namespace lrkv::test
