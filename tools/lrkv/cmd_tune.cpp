// lrkv tune MODEL --method mkv --text FILE [--docs A:B] --steps N [--batch B --ctx C --lr LR]
//   [--calib FILE] [--checkpoint FILE [--resume]] -o OUT.gguf
// Trains MatryoshkaKV projections (PCA-initialised, Cayley-parameterised, ranks sampled per step)
// against the original model and writes a compressed model at FULL rank (method "mkv"); any
// prefix works, so `lrkv compress OUT.gguf --budget B` (or --plan) truncates it.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli_common.h"
#include "io/model_io.h"
#include "backend/device_compute.h"
#include "commands.h"
#include "compress/tune/mkv_export.h"
#include "compress/tune/mkv_task.h"
#include "text_args.h"
#include "tune_args.h"

namespace lrkv::cli {


namespace {

struct TuneArgs {
  ModelArgs model;
  std::string method, calib_path, out;
  TextSourceOptions text;
  CalibrationOptions calib;
  DistillArgs train;
};

Status check_args(const TuneArgs& a) {
  if (a.method != "mkv")
    return make_error(ErrorCode::kInvalidArgument, "--method '{}': expected mkv", a.method);
  if (std::filesystem::path(a.out).extension() != ".gguf") {
    return make_error(ErrorCode::kInvalidArgument, "-o {}: the tuned model is written as .gguf",
                      a.out);
  }
  std::error_code ec;
  if (std::filesystem::exists(a.out) && std::filesystem::equivalent(a.out, a.model.path, ec)) {
    return make_error(ErrorCode::kInvalidArgument, "-o {} is the input model", a.out);
  }
  return a.train.check();
}

Result<CalibrationStats> get_calibration(const TuneArgs& a, const Model& m) {
  if (!a.calib_path.empty()) {
    LRKV_ASSIGN_OR_RETURN(CalibrationStats c, load_calibration(a.calib_path));
    LRKV_RETURN_IF_ERROR(check_calibration_matches(c, m.config, a.calib_path));
    return c;
  }
  log_info("no --calib: calibrating on the training text");
  return calibrate_from_text_on(m, a.text, a.calib, a.train.device);
}

std::string tune_info(const TuneArgs& a, const DistillReport& r, const std::vector<int>& rank_set,
                      const std::string& calib_text) {
  const int64_t n = static_cast<int64_t>(r.losses.size()), k = std::min<int64_t>(20, n);
  nlohmann::json j = {
      {"method", "mkv"},
      {"text", a.text.path + (a.text.range.empty() ? "" : " [" + a.text.range + "]")},
      {"calibration", calib_text},
      {"steps", r.end_step},
      {"batch", a.train.batch},
      {"ctx", a.train.ctx},
      {"lr", a.train.o.adam.lr},
      {"rank_set", rank_set},
      {"loss_first", r.mean_total(0, k)},
      {"loss_last", r.mean_total(n - k, n)}};
  return j.dump();
}

Status run_tune(const TuneArgs& a) {
  LRKV_RETURN_IF_ERROR(check_args(a));
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load());
  if (m.compressed()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} is already compressed; tune the original model", a.model.path);
  }
  LRKV_ASSIGN_OR_RETURN(auto batches, a.train.batches(m, a.text));
  LRKV_ASSIGN_OR_RETURN(CalibrationStats calib, get_calibration(a, m));
  LRKV_ASSIGN_OR_RETURN(KvProjections init, mkv_pca_projections(calib, m.config));
  const std::vector<int> set = matryoshka_rank_set(m.config.head_dim);
  LRKV_ASSIGN_OR_RETURN(TrainGraphFactory graphs, training_graphs(a.train.device));
  LRKV_ASSIGN_OR_RETURN(auto task, MkvTask::create(m, init, a.train.o.seed, set, graphs));
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<TrainGraph> teacher, graphs(m));
  std::string ranks;
  for (int r : set) ranks += (ranks.empty() ? "" : ",") + std::to_string(r);
  log_info("MatryoshkaKV: {} heads x K|V, ranks sampled from {{{}}}, {} steps, lr {}",
           init.heads.size(), ranks, a.train.o.steps, a.train.o.adam.lr);
  LRKV_ASSIGN_OR_RETURN(DistillReport report, run_distillation(*teacher, *task, batches, a.train.o));
  const int64_t n = static_cast<int64_t>(report.losses.size()), k = std::min<int64_t>(20, n);
  log_info("loss: first {} steps {:.4f}, last {} steps {:.4f}", k, report.mean_total(0, k), k,
           report.mean_total(n - k, n));
  LRKV_ASSIGN_OR_RETURN(Model out, mkv_model(m, task->full_rank_projections(),
                                             tune_info(a, report, set, calib.text)));
  LRKV_RETURN_IF_ERROR(save_model(out, a.out));
  log_info("wrote {} (full rank; truncate with `lrkv compress {} --budget B`)", a.out, a.out);
  return Status::Ok();
}

}  // namespace

void register_tune(CLI::App& app) {
  auto a = std::make_shared<TuneArgs>();
  a->calib.max_tokens = 65536;
  CLI::App* cmd = app.add_subcommand(
      "tune",
      "Train MatryoshkaKV projections by distillation from the original model; writes a full-rank "
      "compressed model that `lrkv compress --budget/--plan` truncates");
  a->model.add_to(cmd);
  cmd->add_option("--method", a->method, "Tuned method: mkv (MatryoshkaKV)")->required();
  add_text_options(cmd, &a->text, true,
                   "Training text (also the calibration text without --calib)");
  cmd->add_option("--calib", a->calib_path,
                  "Calibration statistics (`lrkv calibrate`) for the PCA initialisation");
  cmd->add_option("--tokens", a->calib.max_tokens, "Calibration tokens when calibrating on --text")
      ->capture_default_str();
  a->train.add_to(cmd, 1e-3, "--steps");
  cmd->add_option("-o,--output", a->out, "Output model (.gguf)")->required();
  cmd->callback([a] { finish(run_tune(*a)); });
}

}  // namespace lrkv::cli
