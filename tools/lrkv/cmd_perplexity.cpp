// lrkv perplexity MODEL --text FILE: strided-window perplexity, tokens/s, and the KL mode
// (--save-logits on a base model, --kl-base on a modified one, same text and windows).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <optional>

#include "cache_args.h"
#include "cli_common.h"
#include "commands.h"
#include "engine_args.h"
#include "core/log.h"
#include "eval/kl_divergence.h"
#include "eval/logits_file.h"
#include "eval/perplexity.h"
#include "io/text_source.h"
#include "flag_ranges.h"
#include "window_args.h"

namespace lrkv::cli {

namespace {

struct PplArgs {
  ModelArgs model;
  TextSourceOptions text;
  PerplexityOptions ppl;
  CacheArgs cache;
  EngineArgs engine;
  std::string save_logits, kl_base, json_out;
  bool no_bos = false;
};

Status run_ppl(PplArgs a) {
  if (!a.save_logits.empty() && !a.kl_base.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--save-logits and --kl-base are exclusive");
  }
  std::vector<std::string> inputs = a.model.input_files();
  inputs.insert(inputs.end(), {a.text.path, a.kl_base});
  LRKV_RETURN_IF_ERROR(check_output_paths(
      {{"--json", a.json_out, {".json"}}, {"--save-logits", a.save_logits, {".lgp"}}}, inputs));
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load(a.engine.planned(a.cache.spec())));
  LRKV_RETURN_IF_ERROR(check_ctx_fits("--ctx", a.ppl.ctx, m.config));
  LRKV_RETURN_IF_ERROR(a.cache.prepare(m));
  if (!m.tokenizer) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer found; pass --tokenizer FILE", a.model.path);
  }
  LRKV_ASSIGN_OR_RETURN(a.ppl.kv_type, a.cache.spec(&m));
  LRKV_ASSIGN_OR_RETURN(auto docs, read_documents(a.text));
  const std::vector<int> tokens = tokenize_documents(*m.tokenizer, docs, !a.no_bos);
  log_info("{}: {} documents, {} tokens", a.text.path, docs.size(), tokens.size());

  std::optional<LogitsWriter> writer;
  std::optional<LogitsReader> base;
  if (!a.save_logits.empty()) {
    LRKV_ASSIGN_OR_RETURN(auto w, LogitsWriter::create(a.save_logits, m.config.n_vocab));
    writer.emplace(std::move(w));
  }
  if (!a.kl_base.empty()) {
    LRKV_ASSIGN_OR_RETURN(auto r, LogitsReader::open(a.kl_base));
    if (r.n_vocab() != m.config.n_vocab) {
      return make_error(ErrorCode::kInvalidArgument, "{}: vocabulary {} differs from the model's {}",
                        a.kl_base, r.n_vocab(), m.config.n_vocab);
    }
    base.emplace(std::move(r));
  }
  Status cb_status;
  uint64_t row = 0;
  KlAccumulator kl;
  std::vector<float> base_lp(m.config.n_vocab);
  auto on_scored = [&](int64_t index, int target, const float* logits) {
    if (!cb_status.ok()) return;
    if (writer) cb_status = writer->add(index, target, logits);
    if (base) {
      if (row >= base->n_rows() || base->index(row) != static_cast<uint64_t>(index) ||
          base->target(row) != target) {
        cb_status = make_error(ErrorCode::kInvalidArgument,
                               "{}: row {} does not match this run (different text, --ctx, --stride, "
                               "--docs or tokenizer)", a.kl_base, row);
        return;
      }
      cb_status = base->log_probs(row++, base_lp.data());
      if (!cb_status.ok()) return;
      kl.add(base_lp.data(), logits, m.config.n_vocab, target);
    }
  };
  LRKV_ASSIGN_OR_RETURN(auto engine, a.engine.make(m, a.ppl.kv_type));
  LRKV_ASSIGN_OR_RETURN(PerplexityResult r, run_perplexity(*engine, tokens, a.ppl, on_scored));
  LRKV_RETURN_IF_ERROR(cb_status);
  if (writer) LRKV_RETURN_IF_ERROR(writer->finish());

  const int ctx = a.ppl.ctx > 0 ? a.ppl.ctx : m.config.max_seq;
  nlohmann::json j = {{"model", a.model.path}, {"text", a.text.path}, {"documents", docs.size()},
                      {"tokens", tokens.size()}, {"ctx", ctx}, {"stride", a.ppl.stride > 0 ? a.ppl.stride : ctx},
                      {"scored", r.n_scored}, {"ppl", r.ppl}, {"mean_nll", r.mean_nll},
                      {"nll_stderr", r.nll_stderr}, {"seconds", r.seconds},
                      {"tokens_per_second", r.tokens_per_second}, {"kv_type", a.ppl.kv_type.name()},
                      {"device", engine->device()}};
  std::printf("perplexity: %.4f (nll %.5f +/- %.5f nats/token) over %lld scored tokens, %d windows of %d\n",
              r.ppl, r.mean_nll, r.nll_stderr, static_cast<long long>(r.n_scored), r.n_windows, ctx);
  std::printf("speed: %.1f tokens/s (%lld tokens in %.2f s) on %s\n", r.tokens_per_second,
              static_cast<long long>(r.n_processed), r.seconds, engine->device().c_str());
  const double at_ctx = bytes_per_token_at(m.config, a.ppl.kv_type, r.kv_bytes_per_token, ctx);
  std::printf("kv cache: %s, %lld bytes per token", r.cache_kind.c_str(), static_cast<long long>(r.kv_bytes_per_token));
  if (at_ctx != r.kv_bytes_per_token) std::printf(" (%.0f per token over %d tokens, fp16 window included)", at_ctx, ctx);
  std::printf("\n");
  j["cache"] = r.cache_kind;
  j["kv_bytes_per_token"] = r.kv_bytes_per_token;
  j["kv_bytes_per_token_at_ctx"] = at_ctx;
  if (base) {
    if (row != base->n_rows()) log_warn("{}: {} of {} base rows used", a.kl_base, row, base->n_rows());
    const KlStats s = kl.stats();
    std::printf("KL(base||model): mean %.4g +/- %.2g, p99 %.4g, max %.4g; top-1 agreement %.2f%%; "
                "ppl base %.4f model %.4f\n", s.mean_kl, s.kl_stderr, s.kl_p99, s.kl_max,
                100.0 * s.top1_agreement, s.base_ppl, s.model_ppl);
    j["kl"] = {{"mean", s.mean_kl}, {"stderr", s.kl_stderr}, {"p99", s.kl_p99}, {"max", s.kl_max},
               {"top1_agreement", s.top1_agreement}, {"base_ppl", s.base_ppl}, {"model_ppl", s.model_ppl}};
  }
  if (!a.json_out.empty()) LRKV_RETURN_IF_ERROR(write_file_atomic(a.json_out, j.dump(2) + "\n"));
  return Status::Ok();
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto a = std::make_shared<PplArgs>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity",
      "Perplexity of a text with strided windows (each window starts with an empty cache and scores "
      "only targets not scored before)");
  a->model.add_to(cmd);
  cmd->add_option("--text", a->text.path, "Evaluation text: .txt or .jsonl (one {\"text\": ...} per line)")->required();
  cmd->add_option("--field", a->text.jsonl_field, "JSON field holding the text (.jsonl)")->capture_default_str();
  cmd->add_flag("--split-paragraphs", a->text.split_paragraphs,
                "Treat blank-line separated blocks of a .txt as documents (each gets a BOS)");
  cmd->add_option("--docs", a->text.range, "Documents to use, A:B by index or percentage (e.g. 1800:2000, 90%:100%)");
  add_window_options(cmd, &a->ppl, "Score exactly this many tokens (0 = all)");
  a->cache.add_to(cmd);
  a->engine.add_to(cmd);
  cmd->add_flag("--no-bos", a->no_bos, "Do not prepend BOS to each document");
  cmd->add_option("--save-logits", a->save_logits, "Save the next-token distributions (f16 log-probs) for --kl-base");
  cmd->add_option("--kl-base", a->kl_base, "Compare with distributions saved by --save-logits: KL, top-1 agreement");
  cmd->add_option("--json", a->json_out, "Also write the results as JSON to this file");
  cmd->callback([a] { finish(run_ppl(*a)); });
}

}  // namespace lrkv::cli
