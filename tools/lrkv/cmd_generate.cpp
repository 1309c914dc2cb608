// lrkv generate MODEL -p TEXT: streams a continuation (greedy or sampled) to stdout and prints
// prefill/decode speed to stderr.
#include <chrono>
#include <cstdio>

#include "cache_args.h"
#include "cli_common.h"
#include "commands.h"
#include "core/log.h"
#include "flag_ranges.h"
#include "model/engine.h"
#include "model/sampler.h"

namespace lrkv::cli {

namespace {

struct GenerateArgs {
  ModelArgs model;
  std::string prompt;
  int n_predict = 128;
  int ctx = 0;
  CacheArgs cache;
  SamplerOptions sampling;
  bool no_bos = false;
  bool ignore_eos = false;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

Status run_generate(const GenerateArgs& a) {
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load());
  LRKV_RETURN_IF_ERROR(a.cache.prepare(m));
  LRKV_RETURN_IF_ERROR(check_ctx_fits("--ctx", a.ctx, m.config));
  if (!m.tokenizer) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer found; pass --tokenizer FILE", a.model.path);
  }
  LRKV_ASSIGN_OR_RETURN(KvCacheSpec kv, a.cache.spec(&m));
  std::vector<int> ids = m.tokenizer->encode(a.prompt, !a.no_bos);
  if (ids.empty()) return make_error(ErrorCode::kInvalidArgument, "empty prompt and --no-bos: nothing to condition on");
  const int ctx = a.ctx > 0 ? a.ctx : m.config.max_seq;
  if (static_cast<int>(ids.size()) >= ctx) {
    return make_error(ErrorCode::kInvalidArgument, "prompt has {} tokens, context is {} (raise --ctx)", ids.size(), ctx);
  }
  Engine engine(m);
  LRKV_ASSIGN_OR_RETURN(auto cache, engine.make_cache(1, ctx, kv));
  Sampler sampler(a.sampling);
  StreamDecoder out(*m.tokenizer);
  std::printf("%s", a.prompt.c_str());
  std::fflush(stdout);

  std::vector<float> logits;
  auto t0 = std::chrono::steady_clock::now();
  LRKV_RETURN_IF_ERROR(engine.forward({{0, ids.data(), static_cast<int>(ids.size())}}, *cache,
                                      LogitsMode::kLast, &logits));
  const double prefill_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  int generated = 0;
  for (; generated < a.n_predict && cache->length(0) < ctx; ++generated) {
    int next = sampler.sample(logits.data(), m.config.n_vocab);
    if (next == m.tokenizer->eos() && !a.ignore_eos) break;
    std::printf("%s", out.push(next).c_str());
    std::fflush(stdout);
    if (generated + 1 == a.n_predict || cache->length(0) >= ctx) {
      ++generated;
      break;
    }
    LRKV_RETURN_IF_ERROR(engine.forward({{0, &next, 1}}, *cache, LogitsMode::kLast, &logits));
  }
  std::printf("%s\n", out.flush().c_str());
  const double decode_s = seconds_since(t0);
  log_info("prompt {} tokens in {:.3f} s ({:.1f} tok/s); generated {} tokens in {:.3f} s ({:.1f} tok/s)",
           ids.size(), prefill_s, ids.size() / std::max(prefill_s, 1e-9), generated, decode_s,
           generated / std::max(decode_s, 1e-9));
  return Status::Ok();
}

}  // namespace

void register_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt (streams to stdout)");
  a->model.add_to(cmd);
  cmd->add_option("-p,--prompt", a->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", a->n_predict, "Tokens to generate")
      ->capture_default_str()
      ->check(int_range(0, kMaxLen));
  cmd->add_option("--ctx", a->ctx, "Context length (default: the model's)")->check(int_range(2, kMaxLen));
  a->cache.add_to(cmd);
  cmd->add_option("--temp", a->sampling.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str()
      ->check(real_range(0.0, 100.0));
  cmd->add_option("--top-k", a->sampling.top_k, "Keep the k most likely tokens (0 = all)")
      ->capture_default_str()
      ->check(int_range(0, kMaxLen));
  cmd->add_option("--top-p", a->sampling.top_p, "Nucleus: smallest set with this probability mass")
      ->capture_default_str()
      ->check(real_range(0.0, 1.0, true));
  a->sampling.seed = kDefaultSeed;  // the same default as every other command's --seed
  cmd->add_option("--seed", a->sampling.seed, "Random seed for sampling")->capture_default_str();
  cmd->add_flag("--no-bos", a->no_bos, "Do not prepend the BOS token");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep generating after the end-of-sequence token");
  cmd->callback([a] { finish(run_generate(*a)); });
}

}  // namespace lrkv::cli
