#include "model/cpu_engine.h"
#include "eval/report/eval_cell.h"

#include <chrono>
#include <optional>

#include "core/log.h"
#include "eval/kl_divergence.h"
#include "eval/logits_file.h"
#include "eval/tasks/engine_loglik.h"
#include "eval/tasks/mc_scorer.h"

namespace lrkv {

namespace {

// Perplexity, and either saving the dense log-probs or KL against them.
Status measure_ppl(Engine& engine, const CellInputs& in, const EvalOptions& o, CellResult* cell) {
  const int64_t V = engine.config().n_vocab;
  std::optional<LogitsWriter> writer;
  std::optional<LogitsReader> base;
  if (in.write_base_logits) {
    LRKV_ASSIGN_OR_RETURN(auto w, LogitsWriter::create(in.base_logits, static_cast<int>(V)));
    writer.emplace(std::move(w));
  } else {
    LRKV_ASSIGN_OR_RETURN(auto r, LogitsReader::open(in.base_logits));
    if (r.n_vocab() != V) {
      return make_error(ErrorCode::kCorruptFile, "{}: vocabulary {} differs from the model's {}",
                        in.base_logits, r.n_vocab(), V);
    }
    base.emplace(std::move(r));
  }
  Status cb;
  uint64_t row = 0;
  KlAccumulator kl;
  std::vector<float> base_lp(V);
  auto on_scored = [&](int64_t index, int target, const float* logits) {
    if (!cb.ok() || (o.kl_tokens > 0 && static_cast<int64_t>(row) >= o.kl_tokens)) return;
    if (writer) {
      cb = writer->add(index, target, logits);
      ++row;
      return;
    }
    if (row >= base->n_rows()) return;
    if (base->index(row) != static_cast<uint64_t>(index) || base->target(row) != target) {
      cb = make_error(ErrorCode::kCorruptFile,
                      "{}: row {} does not match this run's tokens (stale file? rerun "
                      "with --force)",
                      in.base_logits, row);
      return;
    }
    base->log_probs(row++, base_lp.data());
    kl.add(base_lp.data(), logits, V, target);
  };
  PerplexityOptions po = o.ppl;
  po.kv_type = o.kv_type;
  LRKV_ASSIGN_OR_RETURN(PerplexityResult r, run_perplexity(engine, *in.tokens, po, on_scored));
  LRKV_RETURN_IF_ERROR(cb);
  if (writer) LRKV_RETURN_IF_ERROR(writer->finish());
  cell->ppl = PplSummary{r.ppl, r.mean_nll, r.nll_stderr, r.n_scored, r.tokens_per_second};
  cell->cache_kind = r.cache_kind;
  cell->kv_bytes_per_token = r.kv_bytes_per_token;
  if (base) cell->kl = kl.stats();
  return Status::Ok();
}

Status measure_tasks(Engine& engine, const Tokenizer& tok, const CellInputs& in,
                     const EvalOptions& o, CellResult* cell) {
  EngineLoglikOptions lo;
  lo.max_seqs = o.task_batch;
  lo.kv_type = o.kv_type;
  const LoglikFn loglik = make_engine_loglik(engine, lo);
  McScoreOptions so;
  so.limit = o.task_limit;
  so.add_bos = o.add_bos;
  so.max_batch_choices = o.task_batch;
  for (const McTask& t : *in.tasks) {
    LRKV_ASSIGN_OR_RETURN(McTaskResult r, score_task(t, tok, loglik, so));
    cell->tasks[t.name] =
        TaskSummary{r.n, r.acc, r.acc_norm, r.acc_token, r.acc_stderr, r.acc_norm_stderr, r.chance};
    log_info("{} {}: acc {:.3f} acc_norm {:.3f} (n {}, chance {:.3f}, {:.1f} s)", cell->label,
             t.name, r.acc, r.acc_norm, r.n, r.chance, r.seconds);
  }
  return Status::Ok();
}

}  // namespace

Status measure_cell(const Model& model, const CellInputs& in, const EvalOptions& o,
                    CellResult* cell) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Engine> owned;
  if (o.make_engine) {
    LRKV_ASSIGN_OR_RETURN(owned, o.make_engine(model));
  } else {
    auto cpu = std::make_unique<CpuEngine>(model);
    LRKV_RETURN_IF_ERROR(cpu->status());
    owned = std::move(cpu);
  }
  Engine& engine = *owned;
  if (!model.tokenizer)
    return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer", model.source_path);
  {  // KV bytes per token from the cache itself (also when there is no text).
    LRKV_ASSIGN_OR_RETURN(auto cache, engine.make_cache(1, 16, o.kv_type));
    cell->kv_bytes_per_token = cache->bytes_per_token();
    cell->cache_kind = cache->kind();
  }
  if (in.tokens != nullptr) LRKV_RETURN_IF_ERROR(measure_ppl(engine, in, o, cell));
  if (in.tasks != nullptr && !in.tasks->empty()) {
    LRKV_RETURN_IF_ERROR(measure_tasks(engine, *model.tokenizer, in, o, cell));
  }
  if (o.passkey) {
    PasskeyOptions po = o.passkey_opts;
    po.kv_type = o.kv_type;
    LRKV_ASSIGN_OR_RETURN(PasskeyResult p, run_passkey(engine, *model.tokenizer, po));
    cell->passkey = std::move(p);
  }
  if (o.speed) {
    SpeedOptions so = o.speed_opts;
    so.kv_type = o.kv_type;
    if (so.ctx <= 0) so.ctx = std::max(1, engine.config().max_seq / 2);
    LRKV_ASSIGN_OR_RETURN(SpeedResult s, measure_speed(engine, so));
    cell->speed = SpeedSummary{so.ctx, so.n_gen, s.prefill_tps, s.decode_tps};
  }
  cell->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::Ok();
}

}  // namespace lrkv
