#include "model/cpu_engine.h"
#include "eval/report/eval_runner.h"

#include <algorithm>
#include <filesystem>

#include "core/log.h"
#include "core/mmap_file.h"
#include "core/progress.h"
#include "eval/report/eval_cell.h"
#include "eval/report/report_markdown.h"
#include "eval/report/report_plots.h"
#include "eval/report/spectra.h"
#include "eval/tasks/task_discovery.h"
#include "eval/tasks/task_readers.h"

namespace lrkv {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string in_dir(const std::string& dir, const char* file) {
  return (fs::path(dir) / file).string();
}

std::string describe_text(const TextSourceOptions& t) {
  return t.path + (t.range.empty() ? "" : " [" + t.range + "]") +
         (t.split_paragraphs ? " (paragraphs)" : "");
}

json make_settings(const Model& m, const EvalOptions& o) {
  json s = {{"model", m.source_path}, {"kv_type", o.kv_type.name()}};
  if (!o.text.path.empty()) {
    s["text"] = describe_text(o.text);
    s["ppl_ctx"] = o.ppl.ctx > 0 ? o.ppl.ctx : m.config.max_seq;
    s["ppl_stride"] = o.ppl.stride > 0 ? o.ppl.stride : s["ppl_ctx"].get<int>();
    s["ppl_max_tokens"] = o.ppl.max_tokens;
    s["kl_tokens"] = o.kl_tokens;
  }
  s["bos"] = o.add_bos;
  bool calib = false;
  for (const MethodSpec& ms : o.methods) calib = calib || method_info(ms).needs_calibration;
  if (calib || !o.calib_path.empty()) {
    s["calibration"] =
        !o.calib_path.empty()
            ? o.calib_path
            : fmt::format("{}, {} tokens", describe_text(o.calib_text), o.calib.max_tokens);
  }
  if (!o.tasks.empty()) {
    s["tasks"] = o.tasks + (o.task_names.empty() ? "" : " [" + o.task_names + "]");
    s["task_limit"] = o.task_limit;
  }
  if (o.passkey) {
    const PasskeyOptions& p = o.passkey_opts;
    s["passkey"] = {{"lengths", p.lengths},
                    {"depths", p.depths},
                    {"trials", p.trials},
                    {"digits", p.digits},
                    {"seed", p.seed}};
  }
  if (o.speed)
    s["decode_test"] = fmt::format("batch {}, {} tokens after a {}-token prompt",
                                   o.speed_opts.batch, o.speed_opts.n_gen,
                                   o.speed_opts.ctx > 0 ? o.speed_opts.ctx : m.config.max_seq / 2);
  return s;
}

json model_summary(const Model& m) {
  const LlamaConfig& c = m.config;
  // "lrkv-mha6/model.bin": the file with its directory, since checkpoints are often all "model.*".
  const fs::path p(m.source_path);
  const std::string name = (p.parent_path().filename() / p.filename()).string();
  return {{"name", name},           {"path", m.source_path},
          {"n_layer", c.n_layer},   {"d_model", c.d_model},
          {"n_head", c.n_head},     {"n_kv_head", c.n_kv_head},
          {"head_dim", c.head_dim}, {"max_seq", c.max_seq},
          {"n_vocab", c.n_vocab},   {"dense_f16_bytes_per_token", c.kv_bytes_per_token(2)}};
}

// Loads the previous report when its settings match; a mismatch is an error unless forced.
Result<Report> open_report(const std::string& path, const json& settings, bool force,
                           bool* resumed) {
  *resumed = false;
  Report fresh;
  fresh.settings = settings;
  std::error_code ec;
  if (force || !fs::exists(path, ec)) return fresh;
  LRKV_ASSIGN_OR_RETURN(Report old, load_report(path));
  if (old.settings != settings) {
    std::string diff;
    for (const auto& [k, v] : settings.items()) {
      if (!old.settings.contains(k) || old.settings[k] != v) diff += (diff.empty() ? "" : ", ") + k;
    }
    for (const auto& [k, v] : old.settings.items()) {
      if (!settings.contains(k)) diff += (diff.empty() ? "" : ", ") + k;
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "{} was made with different settings ({}); pass --force to "
                      "recompute or choose another -o directory",
                      path, diff);
  }
  *resumed = true;
  return old;
}

Result<CalibrationStats> get_calibration(const Model& m, const EvalOptions& o, bool reuse) {
  if (!o.calib_path.empty()) {
    LRKV_ASSIGN_OR_RETURN(CalibrationStats s, load_calibration(o.calib_path));
    LRKV_RETURN_IF_ERROR(check_calibration_matches(s, m.config, o.calib_path));
    return s;
  }
  const std::string cached = in_dir(o.out_dir, "calibration.safetensors");
  std::error_code ec;
  if (reuse && fs::exists(cached, ec)) {
    auto s = load_calibration(cached);
    if (s.ok() && check_calibration_matches(*s, m.config, cached).ok()) {
      log_info("calibration: reusing {}", cached);
      return s;
    }
  }
  if (o.calib_text.path.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "methods that need calibration were given: pass --calib FILE or "
                      "--calib-text FILE");
  }
  LRKV_ASSIGN_OR_RETURN(auto docs, read_documents(o.calib_text));
  const std::vector<int> tokens = tokenize_documents(*m.tokenizer, docs, o.add_bos);
  log_info("calibration text {}: {} documents, {} tokens", describe_text(o.calib_text), docs.size(),
           tokens.size());
  CpuEngine engine(m);
  LRKV_RETURN_IF_ERROR(engine.status());
  LRKV_ASSIGN_OR_RETURN(CalibrationStats s, run_calibration(engine, tokens, o.calib));
  s.text = describe_text(o.calib_text);
  LRKV_RETURN_IF_ERROR(save_calibration(s, cached));
  return s;
}

Result<std::vector<McTask>> load_tasks(const EvalOptions& o) {
  std::vector<McTask> tasks;
  if (o.tasks.empty()) return tasks;
  LRKV_ASSIGN_OR_RETURN(auto files, discover_tasks(o.tasks, o.task_names));
  for (const TaskFile& f : files) {
    TaskReadOptions ro;
    ro.name = f.name;
    ro.limit = o.task_limit;
    LRKV_ASSIGN_OR_RETURN(McTask t, read_task_file(f.path, ro));
    log_info("task {}: {} questions from {} ({} layout)", t.name, t.questions.size(), t.path,
             t.layout);
    tasks.push_back(std::move(t));
  }
  return tasks;
}

Status write_outputs(const Report& r, const std::string& dir) {
  LRKV_RETURN_IF_ERROR(save_report(r, in_dir(dir, "report.json")));
  LRKV_ASSIGN_OR_RETURN(auto plots, write_report_plots(r, dir));
  return write_file_atomic(in_dir(dir, "report.md"), render_report_markdown(r, plots));
}

struct PendingCell {
  std::optional<MethodSpec> method;  // empty = dense
  double budget = 1.0;
  std::string key;
};

// The cells still to run: unfinished (or all with force); the dense cell comes first and is
// redone when its saved log-probs are gone and compressed cells need them for KL.
std::vector<PendingCell> pending_cells(const Report& report, const EvalOptions& o, const LlamaConfig& cfg,
                                       const std::string& base_logits) {
  std::vector<PendingCell> cells = {{std::nullopt, 1.0, cell_key("dense", 1.0)}};
  for (const MethodSpec& m : o.methods) {
    const MethodInfo& info = method_info(m);
    for (double b : o.budgets) {
      if (info.supports_budget && !info.supports_budget(b, cfg)) {
        log_info("{} at budget {}: not supported by this method on this model, skipped", m.spec(), b);
        continue;
      }
      cells.push_back({m, b, cell_key(m.spec(), b)});
    }
  }
  std::vector<PendingCell> todo;
  for (const PendingCell& c : cells) {
    if (c.method && (o.force || !report.find(c.key))) todo.push_back(c);
  }
  std::error_code ec;
  const bool lost_logits = !o.text.path.empty() && !fs::exists(base_logits, ec) && !todo.empty();
  if (o.force || !report.find(cells[0].key) || lost_logits) todo.insert(todo.begin(), cells[0]);
  for (const PendingCell& c : cells) {
    if (std::none_of(todo.begin(), todo.end(),
                     [&](const PendingCell& t) { return t.key == c.key; })) {
      log_info("{}: already in the report, skipped (--force recomputes)", c.key);
    }
  }
  return todo;
}

// Inputs shared by every cell: text tokens, tasks, calibration.
struct SharedInputs {
  std::vector<int> tokens;
  std::vector<McTask> tasks;
  std::optional<CalibrationStats> calib;
};

Result<CellResult> run_cell(const Model& base, const PendingCell& pc, const SharedInputs& shared,
                            const EvalOptions& o, const std::string& base_logits) {
  CellResult cell;
  cell.key = pc.key;
  cell.budget = pc.budget;
  CellInputs in;
  in.tokens = o.text.path.empty() ? nullptr : &shared.tokens;
  in.tasks = &shared.tasks;
  in.base_logits = base_logits;
  in.write_base_logits = !pc.method;
  if (!pc.method) {
    cell.spec = cell.label = "dense";
    LRKV_RETURN_IF_ERROR(measure_cell(base, in, o, &cell));
    return cell;
  }
  cell.spec = pc.method->spec();
  cell.label = pc.method->label();
  const CalibrationStats* calib = shared.calib ? &*shared.calib : nullptr;
  LRKV_ASSIGN_OR_RETURN(CompressedModel cm, build_compressed(base, *pc.method, pc.budget, calib));
  if (cm.plan) cell.plan = cm.plan->to_json();
  cell.kept_fraction = cm.kept_fraction;
  Status s = measure_cell(cm.model, in, o, &cell);
  if (!s.ok()) return s.with_context(pc.key);
  return cell;
}

Status check_inputs(const Model& base, const EvalOptions& o) {
  if (!base.tokenizer) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer found; pass --tokenizer",
                      base.source_path);
  }
  if (base.compressed()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} is already compressed; evaluate the original model", base.source_path);
  }
  for (double b : o.budgets) {
    if (!(b > 0.0 && b <= 1.0))
      return make_error(ErrorCode::kInvalidArgument, "--budgets: {} is not in (0, 1]", b);
  }
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec)
    return make_error(ErrorCode::kIoError, "-o {}: cannot create directory: {}", o.out_dir,
                      ec.message());
  return Status::Ok();
}

}  // namespace

Status run_eval(const Model& base, const EvalOptions& o) {
  LRKV_RETURN_IF_ERROR(check_inputs(base, o));
  const std::string report_path = in_dir(o.out_dir, "report.json");
  const std::string base_logits = in_dir(o.out_dir, "base_logprobs.lgp");
  bool resumed = false;
  LRKV_ASSIGN_OR_RETURN(Report report,
                        open_report(report_path, make_settings(base, o), o.force, &resumed));
  report.model = model_summary(base);
  const std::vector<PendingCell> todo = pending_cells(report, o, base.config, base_logits);

  SharedInputs shared;  // inputs first: their errors come before any long computation
  if (!o.text.path.empty() && !todo.empty()) {
    LRKV_ASSIGN_OR_RETURN(auto docs, read_documents(o.text));
    shared.tokens = tokenize_documents(*base.tokenizer, docs, o.add_bos);
    log_info("{}: {} documents, {} tokens", describe_text(o.text), docs.size(),
             shared.tokens.size());
  }
  if (!todo.empty()) {
    LRKV_ASSIGN_OR_RETURN(shared.tasks, load_tasks(o));
  }
  bool need_calib = false;
  for (const PendingCell& c : todo)
    need_calib = need_calib || (c.method && method_info(*c.method).needs_calibration);
  const bool want_spectra =
      o.spectra && (o.force || report.spectra.is_null() || report.spectra.empty());
  if (need_calib || (want_spectra && (!o.calib_path.empty() || !o.calib_text.path.empty()))) {
    LRKV_ASSIGN_OR_RETURN(shared.calib, get_calibration(base, o, resumed));
  }
  if (want_spectra) {
    LRKV_ASSIGN_OR_RETURN(report.spectra,
                          weight_spectra(base, shared.calib ? &*shared.calib : nullptr));
  }
  LRKV_RETURN_IF_ERROR(save_report(report, report_path));

  Progress progress("eval", static_cast<int64_t>(todo.size()), "cell");
  for (size_t i = 0; i < todo.size(); ++i) {
    progress.set_note(todo[i].key);
    log_info("cell {} ({} of {})", todo[i].key, i + 1, todo.size());
    LRKV_ASSIGN_OR_RETURN(CellResult cell, run_cell(base, todo[i], shared, o, base_logits));
    report.upsert(std::move(cell));
    LRKV_RETURN_IF_ERROR(write_outputs(report, o.out_dir));  // after every cell: resumable
    progress.add(1);
  }
  progress.finish();
  LRKV_RETURN_IF_ERROR(write_outputs(report, o.out_dir));
  log_info("wrote {}/report.md, report.json and plots ({} cells)", o.out_dir, report.cells.size());
  return Status::Ok();
}

}  // namespace lrkv
