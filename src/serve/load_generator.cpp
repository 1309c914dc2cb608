#include "serve/load_generator.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "serve/sse_reader.h"

namespace lrkv::serve {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// About n tokens of plain English in most Llama-family tokenizers (each word one token).
std::string synthetic_prompt(int n, int variant) {
  static const char* kWords[] = {"the", "cat",  "sat",  "on",   "a",   "mat",
                                 "and", "then", "it",   "saw",  "big", "red",
                                 "dog", "in",   "park", "with", "his", "friend"};
  std::string s = "Once upon a time";
  for (int i = 4; i < n; ++i) s += std::string(" ") + kWords[(i * 7 + variant) % 18];
  return s;
}

// What request `index` asks for (lengths drawn in soak mode) and whether and when its client
// hangs up (-1: never; k: after k content chunks).
struct Plan {
  int prompt_len = 0, gen_len = 0;
  int hang_up_after = -1;
};

Plan plan_request(const LoadOptions& o, int index) {
  Plan p{o.prompt_len, o.gen_len, -1};
  std::mt19937 rng(static_cast<uint32_t>(index) * 2654435761u + 17);
  if (o.random_lengths) {
    p.prompt_len = std::uniform_int_distribution<int>(std::min(4, o.prompt_len), o.prompt_len)(rng);
    p.gen_len = std::uniform_int_distribution<int>(1, o.gen_len)(rng);
  }
  if (o.disconnect_rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < o.disconnect_rate) {
    p.hang_up_after = std::uniform_int_distribution<int>(0, std::max(0, p.gen_len / 2))(rng);
  }
  return p;
}

// One request's measurements.
struct Sample {
  bool ok = false;
  bool abandoned = false;
  bool no_reply = false;  // the connection failed before a single byte of the reply
  bool planned_hang_up = false;
  std::string error;
  long prompt_tokens = 0, completion_tokens = 0;
  double ttft_ms = -1, latency_ms = 0;
  std::vector<double> itl_ms;
  long chunks = 0;                // content chunks received (streamed)
  Clock::time_point first, last;  // first and last of them (chunks > 0)
};

std::string request_body(const LoadOptions& o, const Plan& plan, int variant) {
  json b = {
      {"max_tokens", plan.gen_len}, {"ignore_eos", true}, {"temperature", 0}, {"stream", o.stream}};
  if (!o.model.empty()) b["model"] = o.model;
  const std::string prompt = synthetic_prompt(plan.prompt_len, variant);
  if (o.chat) {
    b["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
  } else {
    b["prompt"] = prompt;
  }
  if (o.stream) b["stream_options"] = {{"include_usage", true}};
  return b.dump();
}

void read_usage(const json& j, Sample* s) {
  auto u = j.find("usage");
  if (u == j.end() || !u->is_object()) return;
  s->prompt_tokens = u->value("prompt_tokens", 0L);
  s->completion_tokens = u->value("completion_tokens", 0L);
}

// Streams one request; every non-empty content chunk is a token arrival.
Sample run_one(httplib::Client& cli, const LoadOptions& o, int variant) {
  Sample s;
  const Plan plan = plan_request(o, variant);
  s.planned_hang_up = plan.hang_up_after >= 0;
  httplib::Request req;
  req.method = "POST";
  req.path = o.chat ? "/v1/chat/completions" : "/v1/completions";
  req.body = request_body(o, plan, variant);
  req.set_header("Content-Type", "application/json");
  if (!o.api_key.empty()) req.set_header("Authorization", "Bearer " + o.api_key);
  SseReader sse;
  std::string body;
  const Clock::time_point t0 = Clock::now();
  size_t received = 0;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received += n;
    if (!o.stream && plan.hang_up_after >= 0) return s.abandoned = true, false;
    if (!o.stream) return body.append(data, n), true;
    // The first bytes, for the message of a non-200 reply (a JSON error, not events).
    if (body.size() < 512) body.append(data, std::min(n, 512 - body.size()));
    if (plan.hang_up_after >= 0 && s.chunks >= plan.hang_up_after) return s.abandoned = true, false;
    for (const std::string& ev : sse.feed(std::string_view(data, n))) {
      const Clock::time_point now = Clock::now();
      auto j = json::parse(ev, nullptr, false);
      if (j.is_object() && j.contains("error")) s.error = j["error"].value("message", ev);
      if (j.is_object()) read_usage(j, &s);
      if (choice_text(ev).empty()) continue;
      if (s.chunks++ == 0) {
        s.ttft_ms = ms_between(t0, now);
        s.first = now;
      } else {
        s.itl_ms.push_back(ms_between(s.last, now));
      }
      s.last = now;
      // Hang up right at the planned chunk, even when the rest arrived in the same read.
      if (plan.hang_up_after >= 0 && s.chunks >= plan.hang_up_after) return s.abandoned = true, false;
    }
    return true;
  };
  auto res = cli.send(req);
  s.latency_ms = ms_between(t0, Clock::now());
  if (s.abandoned) return s;
  if (!res) {
    s.no_reply = received == 0;
    return s.error = "HTTP: " + httplib::to_string(res.error()), s;
  }
  if (res->status != 200) {
    return s.error = fmt::format("HTTP {}: {}", res->status, body.substr(0, 200)), s;
  }
  if (!o.stream) {
    auto j = json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("choices"))
      return s.error = "bad JSON body: " + body.substr(0, 200), s;
    read_usage(j, &s);
  } else if (s.completion_tokens == 0) {
    s.completion_tokens = s.chunks;
  }
  s.ok = s.error.empty();
  return s;
}

}  // namespace

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

Result<LoadReport> run_load(const LoadOptions& o) {
  if (o.concurrency < 1 || o.requests < 1 || o.prompt_len < 1 || o.gen_len < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--concurrency, --requests, --prompt-len and --gen-len must be >= 1");
  }
  if (!(o.disconnect_rate >= 0 && o.disconnect_rate <= 1) || !(o.duration_s >= 0)) {
    return make_error(ErrorCode::kInvalidArgument, "--disconnect-rate {} (0..1) / --duration {} (>= 0)",
                      o.disconnect_rate, o.duration_s);
  }
  if (o.url.rfind("http://", 0) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "--url {}: expected http://HOST:PORT", o.url);
  }
  LoadReport report;
  std::mutex mu;
  std::atomic<int> next{0};
  const Clock::time_point t0 = Clock::now();
  const auto more = [&](int i) {
    if (o.duration_s > 0) return std::chrono::duration<double>(Clock::now() - t0).count() < o.duration_s;
    return i < o.requests;
  };
  auto worker = [&] {
    auto connect = [&] {
      auto c = std::make_unique<httplib::Client>(o.url);
      c->set_read_timeout(o.timeout_s, 0);
      c->set_keep_alive(true);
      return c;
    };
    auto cli = connect();
    for (int i; more(i = next++);) {
      Sample s = run_one(*cli, o, i);
      bool retried = false;
      if (s.no_reply && !s.abandoned) {
        // A kept-alive connection the server closed between requests fails before any reply
        // byte (servers cap requests per connection): once, on a fresh connection.
        cli = connect();
        s = run_one(*cli, o, i);
        retried = true;
      }
      if (s.abandoned || !s.ok) cli = connect();  // the hung-up or failed connection is gone
      std::lock_guard<std::mutex> lock(mu);
      report.planned_disconnects += s.planned_hang_up;
      report.retried += retried;
      if (s.abandoned) {
        ++report.abandoned;
        continue;
      }
      if (!s.ok) {
        if (report.errors++ == 0) report.first_error = s.error;
        continue;
      }
      ++report.ok;
      report.prompt_tokens += s.prompt_tokens;
      report.completion_tokens += s.completion_tokens;
      if (s.ttft_ms >= 0) report.ttft_ms.push_back(s.ttft_ms);
      report.itl_ms.insert(report.itl_ms.end(), s.itl_ms.begin(), s.itl_ms.end());
      report.latency_ms.push_back(s.latency_ms);
      if (s.chunks > 1) {
        const long gen = s.completion_tokens > 0 ? s.completion_tokens : s.chunks;
        report.decode_tokens += gen - 1;
        report.decode_spans.emplace_back(std::chrono::duration<double>(s.first - t0).count(),
                                         std::chrono::duration<double>(s.last - t0).count());
      }
    }
  };
  std::vector<std::thread> threads;
  const int clients = o.duration_s > 0 ? o.concurrency : std::min(o.concurrency, o.requests);
  for (int c = 0; c < clients; ++c) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  report.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return report;
}

double decode_tokens_per_s(const LoadReport& r) {
  std::vector<std::pair<double, double>> spans = r.decode_spans;
  std::sort(spans.begin(), spans.end());
  double busy = 0, end = -1;
  for (const auto& [a, b] : spans) {
    if (a > end) {
      busy += b - a;
      end = b;
    } else if (b > end) {
      busy += b - end;
      end = b;
    }
  }
  return busy > 0 ? static_cast<double>(r.decode_tokens) / busy : 0.0;
}

std::string format_report(const LoadOptions& o, const LoadReport& r) {
  std::string s = fmt::format("{} requests ({} ok, {} errors{}) at concurrency {} in {:.2f} s\n",
                              r.ok + r.errors + r.abandoned, r.ok, r.errors,
                              (r.abandoned ? fmt::format(", {} abandoned on purpose", r.abandoned) : "") +
                                  (r.retried ? fmt::format(", {} retried once on a fresh connection", r.retried) : ""),
                              o.concurrency, r.wall_s);
  s += fmt::format("| {:<22} | {:>12} |\n|{:-<24}|{:->14}|\n", "metric", "value", "", "");
  auto row = [&](const std::string& name, double v) {
    s += fmt::format("| {:<22} | {:>12.2f} |\n", name, v);
  };
  row("requests/s", r.ok / r.wall_s);
  row("prompt tokens/s", r.prompt_tokens / r.wall_s);
  row("generated tokens/s", r.completion_tokens / r.wall_s);
  if (!r.ttft_ms.empty()) {
    row("TTFT p50 (ms)", percentile(r.ttft_ms, 50));
    row("TTFT p99 (ms)", percentile(r.ttft_ms, 99));
  }
  if (!r.decode_spans.empty()) row("decode tokens/s", decode_tokens_per_s(r));
  if (!r.itl_ms.empty()) {
    row("ITL p50 (ms)", percentile(r.itl_ms, 50));
    row("ITL p99 (ms)", percentile(r.itl_ms, 99));
  }
  row("latency p50 (ms)", percentile(r.latency_ms, 50));
  row("latency p99 (ms)", percentile(r.latency_ms, 99));
  if (r.errors > 0) s += "first error: " + r.first_error + "\n";
  return s;
}

}  // namespace lrkv::serve
