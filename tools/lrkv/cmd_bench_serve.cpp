// lrkv bench-serve --url URL: load generator for any OpenAI-compatible server (lrkv serve,
// llama-server, vLLM): throughput, TTFT, inter-token latency, errors (src/serve/load_generator.h).
#include <cstdio>

#include "commands.h"
#include "serve/load_generator.h"

namespace lrkv::cli {

void register_bench_serve(CLI::App& app) {
  auto o = std::make_shared<serve::LoadOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench-serve", "Load-test an OpenAI-compatible server (throughput, TTFT, ITL)");
  cmd->add_option("--url", o->url, "Server base URL, http://HOST:PORT")->capture_default_str();
  cmd->add_option("--concurrency", o->concurrency, "Clients sending requests back to back")
      ->capture_default_str();
  cmd->add_option("--prompt-len", o->prompt_len, "Prompt length in (approximate) tokens")
      ->capture_default_str();
  cmd->add_option("--gen-len", o->gen_len,
                  "Tokens to generate per request (max_tokens, with ignore_eos)")
      ->capture_default_str();
  cmd->add_option("--requests", o->requests, "Total requests")->capture_default_str();
  cmd->add_flag("--stream", o->stream, "Stream (SSE): needed for TTFT and inter-token latency");
  cmd->add_flag("--chat", o->chat, "Use /v1/chat/completions instead of /v1/completions");
  cmd->add_option("--api-key", o->api_key, "Send 'Authorization: Bearer KEY'");
  cmd->add_option("--model", o->model, "The request's \"model\" field (some servers need one)");
  cmd->add_option("--timeout", o->timeout_s, "Per-request timeout in seconds")
      ->capture_default_str();
  cmd->add_option("--duration", o->duration_s,
                  "Soak: send requests for this many seconds instead of --requests (0 = off)")
      ->check(CLI::Range(0.0, 7 * 24 * 3600.0));
  cmd->add_flag("--random-lengths", o->random_lengths,
                "Draw each request's prompt (4..--prompt-len) and generation (1..--gen-len) lengths");
  cmd->add_option("--disconnect-rate", o->disconnect_rate,
                  "Fraction of requests the client abandons part-way (counted apart from errors)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->callback([o] {
    auto r = serve::run_load(*o);
    if (!r.ok()) return finish(r.status());
    std::printf("%s", serve::format_report(*o, *r).c_str());
    if (r->ok == 0)
      finish(make_error(ErrorCode::kIoError, "every request failed: {}", r->first_error));
    else if (r->errors > 0)
      finish(make_error(ErrorCode::kIoError, "{} of {} requests failed or were lost: {}", r->errors,
                        r->ok + r->errors, r->first_error));
  });
}

}  // namespace lrkv::cli
