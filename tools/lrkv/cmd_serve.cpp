// lrkv serve MODEL: an OpenAI-compatible HTTP server (src/serve) with continuous batching over
// one KV cache. Prints the listening address, runs until SIGINT/SIGTERM, then stops cleanly.
#include <csignal>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "cache_args.h"
#include "cli_common.h"
#include "commands.h"
#include "core/log.h"
#include "engine_args.h"
#include "serve/kv_budget.h"
#include "serve/server.h"

namespace lrkv::cli {

namespace {

struct ServeArgs {
  ModelArgs model;
  CacheArgs cache;
  EngineArgs engine;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 16;
  int kv_block = 16;
  std::string kv_budget = "8GiB";
  int ctx = 0;
  int batch_tokens = 0;  // 0: default_batch_tokens(device)
  std::string api_key;
  std::string chat_template;
  std::string alias;
  int64_t max_body = 1 << 20;
};

// Tokens per step when --batch-tokens is not given. The CPU engine's step time grows with its
// tokens, so small steps keep decodes flowing; on the GPU a 512-token step leaves the prompt
// GEMMs short and decodes a quantized prefix once per chunk (bench/CUDA_NOTES.md, part 8).
constexpr int kCpuBatchTokens = 512;
constexpr int kCudaBatchTokens = 2048;
int default_batch_tokens(const std::string& device) {
  return device == "cuda" ? kCudaBatchTokens : kCpuBatchTokens;
}

Status check_args(const ServeArgs& a) {
  if (a.batch_tokens < 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "--batch-tokens must be >= 1 (or 0 for the device's default), got {}",
                      a.batch_tokens);
  if (a.parallel < 1)
    return make_error(ErrorCode::kInvalidArgument, "--parallel must be >= 1, got {}", a.parallel);
  if (a.port < 0 || a.port > 65535)
    return make_error(ErrorCode::kInvalidArgument, "--port {}: expected 0..65535", a.port);
  if (a.max_body < 1024)
    return make_error(ErrorCode::kInvalidArgument, "--max-body must be >= 1024 bytes, got {}",
                      a.max_body);
  return Status::Ok();
}

// Blocks SIGINT/SIGTERM in this thread (and the threads it starts) and waits for one.
void block_stop_signals(sigset_t* set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, set, nullptr);
}

Status run_serve(const ServeArgs& a) {
  LRKV_RETURN_IF_ERROR(check_args(a));
  LRKV_ASSIGN_OR_RETURN(int64_t budget, serve::parse_byte_size("--kv-budget", a.kv_budget));
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load(a.engine.planned(a.cache.spec())));
  LRKV_RETURN_IF_ERROR(a.cache.prepare(m));
  if (!m.tokenizer)
    return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer found; pass --tokenizer FILE",
                      a.model.path);
  LRKV_ASSIGN_OR_RETURN(std::optional<serve::ChatTemplate> chat,
                        serve::select_chat_template(m, a.chat_template));
  const int ctx = a.ctx > 0 ? a.ctx : m.config.max_seq;
  if (ctx < 2) return make_error(ErrorCode::kInvalidArgument, "--ctx must be >= 2, got {}", ctx);
  LRKV_ASSIGN_OR_RETURN(KvCacheSpec spec, a.cache.spec(&m));
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, a.engine.make(m, spec));
  LRKV_ASSIGN_OR_RETURN(serve::CachePlan plan, serve::plan_cache(*engine, spec, ctx, budget,
                                                                 a.parallel, a.kv_block));

  serve::ServerOptions o;
  o.host = a.host;
  o.port = a.port;
  o.api_key = a.api_key;
  o.model_name =
      a.alias.empty() ? std::filesystem::path(a.model.path).filename().string() : a.alias;
  o.max_body_bytes = static_cast<size_t>(a.max_body);
  const int batch_tokens =
      a.batch_tokens > 0 ? a.batch_tokens : default_batch_tokens(engine->device());
  o.scheduler = {plan.slots, ctx, batch_tokens, plan.spec};
  const char* chat_name =
      chat ? serve::chat_format_name(chat->format()) : "none (chat answers 400)";
  sigset_t stop_signals;
  block_stop_signals(&stop_signals);
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<serve::Server> server,
                        serve::Server::start(*engine, std::move(chat), o));
  const std::string layout =
      plan.spec.paging.paged()
          ? fmt::format("paged, {} blocks of {} tokens ({} tokens), up to {} sequences of <= {}",
                        plan.spec.paging.n_blocks, plan.spec.paging.block_rows,
                        int64_t{plan.spec.paging.n_blocks} * plan.spec.paging.block_rows,
                        plan.slots, ctx)
          : fmt::format("{} slots x {} tokens{}", plan.slots, ctx,
                        plan.unpaged_reason.empty() ? "" : " (" + plan.unpaged_reason + ")");
  log_info("{} engine; KV cache {}: {}, {} bytes/token, {} reserved (--kv-budget {}); up to {} "
           "tokens per step; chat template {}",
           engine->device(), spec.name(), layout, plan.bytes_per_token,
           human_bytes(static_cast<double>(plan.reserved_bytes)), a.kv_budget, batch_tokens,
           chat_name);
  std::printf("lrkv serve: listening on http://%s:%d (model %s)\n", a.host.c_str(), server->port(),
              o.model_name.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log_info("signal {}: stopping", sig);
  server->stop();
  return Status::Ok();
}

}  // namespace

void register_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd =
      app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
  a->model.add_to(cmd);
  a->engine.add_to(cmd);
  cmd->add_option("--host", a->host,
                  "Address to listen on (loopback by default; anything else exposes the server)")
      ->capture_default_str();
  cmd->add_option("--port", a->port, "TCP port (0 = any free port)")->capture_default_str();
  cmd->add_option("--parallel", a->parallel,
                  "Most sequences decoded together; requests beyond them wait in a queue")
      ->capture_default_str();
  cmd->add_option(
         "--kv-budget", a->kv_budget,
         "Bytes for the KV cache (8GiB, 512MiB, 2GB, ...). Paged (CPU and CUDA): budget / "
         "(bytes per token x --kv-block) blocks shared by all sequences, which hold only the "
         "tokens they have; a full cache queues new requests and preempts the newest running "
         "one. Not paged (--kv-block 0, kivi): min(--parallel, budget / (bytes per token x "
         "--ctx)) slots")
      ->capture_default_str();
  cmd->add_option("--kv-block", a->kv_block,
                  "Tokens per KV cache block (a power of two; 0 = no paging: whole-context "
                  "slots, no prefix sharing)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--ctx", a->ctx,
                  "Tokens per sequence, prompt + completion (default: the model's context)");
  cmd->add_option("--batch-tokens", a->batch_tokens,
                  fmt::format("Most tokens per engine step: one per decoding sequence, the rest "
                              "prompt chunks (default: {} on the CPU, {} with --device cuda)",
                              kCpuBatchTokens, kCudaBatchTokens));
  cmd->add_option("--api-key", a->api_key,
                  "Require 'Authorization: Bearer KEY' on every route but /health");
  cmd->add_option(
      "--chat-template", a->chat_template,
      "Chat format for /v1/chat/completions: llama2, llama3, mistral, chatml, qwen2 (default: "
      "recognised from the model's tokenizer.chat_template; none = chat answers 400)");
  cmd->add_option("--alias", a->alias,
                  "Model name in /v1/models and responses (default: the file name)");
  cmd->add_option("--max-body", a->max_body, "Largest request body in bytes (larger: 413)")
      ->capture_default_str();
  a->cache.add_to(cmd);
  cmd->callback([a] { finish(run_serve(*a)); });
}

}  // namespace lrkv::cli
