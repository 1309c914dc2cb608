// lrkv eval MODEL --methods palu:group:4,lorc,mkv-pca --budgets 0.5,0.25 --text FILE
//   [--calib FILE | --calib-text FILE] [--tasks DIR] [--limit N] -o DIR
// Compares KV-compression methods at equal memory with one shared calibration; writes
// DIR/report.json (resumable), DIR/report.md and PNG plots (see src/eval/report/eval_runner.h).
#include <filesystem>
#include <sstream>

#include "cli_common.h"
#include "commands.h"
#include "engine_args.h"
#include "eval/report/eval_runner.h"
#include "flag_ranges.h"
#include "text_args.h"
#include "window_args.h"

namespace lrkv::cli {

namespace {

struct EvalArgs {
  ModelArgs model;
  EvalOptions o;
  EngineArgs engine;
  std::string methods, kv_type = "f16";
};

Status check_flags(const EvalArgs& a) {
  auto bad = [](const std::string& m) { return Status(ErrorCode::kInvalidArgument, m); };
  if (a.o.kl_tokens < 0) return bad(fmt::format("--kl-tokens {} must be >= 0", a.o.kl_tokens));
  if (a.o.task_limit < 0) return bad(fmt::format("--limit {} must be >= 0", a.o.task_limit));
  if (a.o.task_batch < 1) return bad(fmt::format("--task-batch {} must be >= 1", a.o.task_batch));
  if (a.o.passkey_opts.trials < 1)
    return bad(fmt::format("--passkey-trials {} must be >= 1", a.o.passkey_opts.trials));
  for (double d : a.o.passkey_opts.depths) {
    if (!(d >= 0.0 && d <= 1.0))
      return bad(fmt::format("--passkey-depths: {} is not in [0, 1]", d));
  }
  for (int l : a.o.passkey_opts.lengths) {
    if (l < 32) return bad(fmt::format("--passkey-lengths: {} tokens is too short (min 32)", l));
  }
  if (a.o.text.path.empty() && a.o.tasks.empty() && !a.o.passkey) {
    return bad("nothing to measure: give --text, --tasks, or leave the passkey test on");
  }
  if (a.o.calib.max_tokens < 0)
    return bad(fmt::format("--calib-tokens {} must be >= 0", a.o.calib.max_tokens));
  return Status::Ok();
}

Status check_paths(const EvalArgs& a) {
  std::vector<std::string> inputs = a.model.input_files();
  inputs.insert(inputs.end(), {a.o.text.path, a.o.calib_path, a.o.calib_text.path});
  std::stringstream tasks(a.o.tasks);
  for (std::string t; std::getline(tasks, t, ',');) inputs.push_back(t);
  OutputPath dir{"-o", a.o.out_dir, {}};
  dir.directory = true;
  return check_output_paths({dir}, inputs);
}

Status run_checked(EvalArgs a) {
  LRKV_ASSIGN_OR_RETURN(a.o.kv_type, parse_kv_type("--kv-type", a.kv_type));
  LRKV_ASSIGN_OR_RETURN(std::string device, a.engine.resolve(a.o.kv_type));
  a.o.make_engine = [device](const Model& model) { return make_engine(model, EngineOptions{device}); };
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load(device));
  LRKV_RETURN_IF_ERROR(check_ctx_fits("--ctx", a.o.ppl.ctx, m.config));
  LRKV_ASSIGN_OR_RETURN(a.o.methods, parse_method_list(a.methods, m.config));
  const int room = m.config.max_seq - passkey_max_new_tokens(a.o.passkey_opts.digits);
  for (int l : a.o.passkey_opts.lengths) {
    if (a.o.passkey && l > room) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--passkey-lengths: {} leaves no room for the answer in the "
                        "model's context {} (max {})",
                        l, m.config.max_seq, room);
    }
  }
  return run_eval(m, a.o);
}

// A failed run leaves no report directory behind that it created and left empty.
Status run(const EvalArgs& a) {
  LRKV_RETURN_IF_ERROR(check_flags(a));
  LRKV_RETURN_IF_ERROR(check_paths(a));
  std::error_code ec;
  const bool existed = std::filesystem::exists(a.o.out_dir, ec);
  Status s = run_checked(a);
  if (!s.ok() && !existed && std::filesystem::is_empty(a.o.out_dir, ec) && !ec) {
    std::filesystem::remove(a.o.out_dir, ec);
  }
  return s;
}

}  // namespace

void register_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  a->o.calib.max_tokens = 65536;
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Compare KV-compression methods at equal memory: perplexity, KL to the dense model, "
      "zero-shot "
      "tasks, passkey retrieval, KV bytes and speed; writes report.json/report.md/PNGs");
  a->model.add_to(cmd);
  a->engine.add_to(cmd);
  cmd->add_option("--methods", a->methods,
                  "Comma-separated method specs NAME[:ARG], e.g. palu:group:4,lorc,mkv-pca "
                  "(known: " +
                      eval_method_names() + "; ARG = head | group:S | joint)")
      ->required();
  cmd->add_option("--budgets", a->o.budgets, "Kept fractions of the KV cache, comma-separated")
      ->delimiter(',')
      ->capture_default_str()
      ->check(real_range(0.0, 1.0, true));
  cmd->add_option("--kv-type", a->kv_type, "Cache element type for every cell (f32, f16, bf16)")
      ->capture_default_str();
  add_text_options(cmd, &a->o.text, false, "Evaluation text for perplexity and KL");
  add_window_options(cmd, &a->o.ppl, "Score exactly this many text tokens (0 = all)");
  cmd->add_option("--kl-tokens", a->o.kl_tokens,
                  "Targets compared with the dense model, 0 = all (their f16 "
                  "log-probs stay in DIR/base_logprobs.lgp: n_vocab x 2 bytes each)")
      ->capture_default_str()
      ->check(int_range(0, kMaxCount));
  cmd->add_option("--calib", a->o.calib_path,
                  "Calibration statistics from `lrkv calibrate` (shared by all methods)");
  cmd->add_option("--calib-text", a->o.calib_text.path,
                  "Calibration text (.txt or .jsonl) when no --calib is given");
  cmd->add_option("--calib-docs", a->o.calib_text.range, "Calibration documents A:B (e.g. 0:1800)");
  cmd->add_option("--calib-field", a->o.calib_text.jsonl_field,
                  "JSON field of the calibration text")
      ->capture_default_str();
  cmd->add_flag("--calib-split-paragraphs", a->o.calib_text.split_paragraphs,
                "Blank-line separated calibration documents");
  cmd->add_option("--calib-tokens", a->o.calib.max_tokens, "Calibration tokens")
      ->capture_default_str()
      ->check(int_range(0, kMaxCount));
  cmd->add_option("--tasks", a->o.tasks,
                  "Zero-shot tasks: a directory like ../shared/data/tasks, a directory of "
                  "task files, or comma-separated files");
  cmd->add_option("--task-names", a->o.task_names,
                  "Only these tasks (comma-separated names, e.g. arc_easy,piqa)");
  cmd->add_option("--limit", a->o.task_limit, "Questions per task (0 = all)")
      ->capture_default_str()
      ->check(int_range(0, kMaxCount));
  cmd->add_option("--task-batch", a->o.task_batch, "Choices per forward pass")
      ->capture_default_str()
      ->check(int_range(1, kMaxBatch));
  cmd->add_option("--passkey-lengths", a->o.passkey_opts.lengths,
                  "Passkey prompt lengths in tokens (default: 1/4, 1/2 and all of the context)")
      ->delimiter(',');
  cmd->add_option("--passkey-depths", a->o.passkey_opts.depths, "Needle depths in [0, 1]")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--passkey-trials", a->o.passkey_opts.trials, "Keys per (length, depth)")
      ->capture_default_str()
      ->check(int_range(1, 1 << 20));
  cmd->add_option("--passkey-seed", a->o.passkey_opts.seed, "Seed of the keys")
      ->capture_default_str();
  cmd->add_flag(
      "--no-passkey", [a](int64_t) { a->o.passkey = false; }, "Skip the passkey test");
  cmd->add_option("--decode-ctx", a->o.speed_opts.ctx,
                  "Prompt length of the decode speed test (default: half "
                  "the context)")
      ->check(int_range(1, kMaxLen));
  cmd->add_option("--decode-tokens", a->o.speed_opts.n_gen, "Tokens of the decode speed test")
      ->capture_default_str()
      ->check(int_range(0, kMaxLen));
  cmd->add_flag(
      "--no-speed", [a](int64_t) { a->o.speed = false; }, "Skip the decode speed test");
  cmd->add_flag(
      "--no-spectra", [a](int64_t) { a->o.spectra = false; }, "Skip the singular-value spectra");
  cmd->add_flag(
      "--no-bos", [a](int64_t) { a->o.add_bos = false; },
      "Do not prepend BOS to documents and tasks");
  cmd->add_option("-o,--output", a->o.out_dir, "Report directory")->required();
  cmd->add_flag("--force", a->o.force, "Recompute every cell instead of resuming");
  cmd->callback([a] { finish(run(*a)); });
}

}  // namespace lrkv::cli
