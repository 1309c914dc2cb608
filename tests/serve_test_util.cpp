#include "serve_test_util.h"

#include <sstream>

#include "io/model_io.h"
#include "model/cpu_engine.h"
#include "model/generate.h"
#include "serve/sse_reader.h"

namespace lrkv::test {

const Model* stories_model() {
  static std::unique_ptr<Model> m = [] {
    if (!shared_exists(kStories)) return std::unique_ptr<Model>();
    auto r = load_model(shared_path(kStories));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::make_unique<Model>(std::move(r).value()) : std::unique_ptr<Model>();
  }();
  return m.get();
}

std::unique_ptr<httplib::Client> TestServer::client() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port());
  c->set_read_timeout(60, 0);
  return c;
}

TestServer start_test_server(const Model& model, serve::ServerOptions o,
                             const std::string& chat_template) {
  TestServer t;
  t.engine = std::make_unique<CpuEngine>(model);
  o.host = "127.0.0.1";
  o.port = 0;
  auto chat = serve::select_chat_template(model, chat_template);
  EXPECT_TRUE(chat.ok()) << chat.status().to_string();
  auto s = serve::Server::start(*t.engine, chat.ok() ? std::move(*chat) : std::nullopt, o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  if (s.ok()) t.server = std::move(s).value();
  return t;
}

JsonReply post_json(httplib::Client& cli, const std::string& path, const std::string& body,
                    const std::string& api_key) {
  httplib::Headers h;
  if (!api_key.empty()) h.emplace("Authorization", "Bearer " + api_key);
  JsonReply r;
  auto res = cli.Post(path, h, body, "application/json");
  if (!res) {
    r.raw = "no response: " + httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.raw = res->body;
  r.body = nlohmann::json::parse(res->body, nullptr, false);
  return r;
}

JsonReply post_json(httplib::Client& cli, const std::string& path, const nlohmann::json& body) {
  return post_json(cli, path, body.dump(), "");
}

StreamedReply post_stream(httplib::Client& cli, const std::string& path, nlohmann::json body) {
  body["stream"] = true;
  StreamedReply r;
  serve::SseReader sse;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    for (const std::string& ev : sse.feed(std::string_view(data, n))) {
      r.text += serve::choice_text(ev);
      ++r.chunks;
      auto j = nlohmann::json::parse(ev, nullptr, false);
      if (j.is_object() && j.contains("usage")) r.completion_tokens = j["usage"]["completion_tokens"];
      if (j.is_object() && !j["choices"].empty() && j["choices"][0]["finish_reason"].is_string()) {
        r.finish_reason = j["choices"][0]["finish_reason"];
      }
    }
    return true;
  };
  auto res = cli.send(req);
  r.status = res ? res->status : 0;
  if (!res) r.text = "no response: " + httplib::to_string(res.error());
  r.done = sse.done();
  return r;
}

std::string reference_greedy(const Model& model, const std::string& prompt, int max_tokens) {
  CpuEngine engine(model);
  auto cache = engine.make_cache(1, model.config.max_seq);
  EXPECT_TRUE(cache.ok()) << cache.status().to_string();
  if (!cache.ok()) return "";
  GenerateOptions o;
  o.max_new_tokens = max_tokens;
  o.sampling.temperature = 0;
  auto r = generate(engine, **cache, 0, model.tokenizer->encode(prompt, true), *model.tokenizer, o);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->text : "";
}

long metric(httplib::Client& cli, const std::string& name) {
  auto res = cli.Get("/metrics");
  if (!res) return -1;
  std::istringstream in(res->body);
  const std::string key = "lrkv_" + name + " ";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  return -1;
}

}  // namespace lrkv::test
