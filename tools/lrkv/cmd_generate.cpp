// lrkv generate MODEL -p TEXT: streams a continuation (greedy or sampled) to stdout and prints
// prefill/decode speed to stderr.
#include <cstdio>

#include "cache_args.h"
#include "cli_common.h"
#include "commands.h"
#include "core/log.h"
#include "engine_args.h"
#include "model/generate.h"
#include "flag_ranges.h"

namespace lrkv::cli {

namespace {

struct GenerateArgs {
  ModelArgs model;
  std::string prompt;
  int n_predict = 128;
  int ctx = 0;
  CacheArgs cache;
  EngineArgs engine;
  SamplerOptions sampling;
  bool no_bos = false;
  bool ignore_eos = false;
};

Status run_generate(const GenerateArgs& a) {
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load(a.engine.planned(a.cache.spec())));
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
  LRKV_ASSIGN_OR_RETURN(auto engine, a.engine.make(m, kv));
  LRKV_ASSIGN_OR_RETURN(auto cache, engine->make_cache(1, ctx, kv));
  GenerateOptions o;
  o.max_new_tokens = a.n_predict;
  o.sampling = a.sampling;
  o.ignore_eos = a.ignore_eos;
  std::printf("%s", a.prompt.c_str());
  std::fflush(stdout);
  const PieceFn print = [](const std::string& piece) {
    std::printf("%s", piece.c_str());
    std::fflush(stdout);
    return true;
  };
  LRKV_ASSIGN_OR_RETURN(GenerateResult r, generate(*engine, *cache, 0, ids, *m.tokenizer, o, print));
  std::printf("\n");
  std::fflush(stdout);
  const double n_gen = static_cast<double>(r.tokens.size());
  log_info("prompt {} tokens in {:.3f} s ({:.1f} tok/s); generated {} tokens in {:.3f} s ({:.1f} tok/s) on {}",
           ids.size(), r.prefill_seconds, ids.size() / std::max(r.prefill_seconds, 1e-9), r.tokens.size(),
           r.decode_seconds, n_gen / std::max(r.decode_seconds, 1e-9), engine->device());
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
  a->engine.add_to(cmd);
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
