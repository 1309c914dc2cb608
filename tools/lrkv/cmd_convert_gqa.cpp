// lrkv convert-gqa MODEL --groups g [--calib FILE | --text FILE --tokens N]
//   [--tune-steps N --text FILE [--tune-lr LR ...]] -o OUT.gguf|OUT.safetensors
// Merges every g consecutive KV heads into one (activation PCA; per-frequency complex PCA for
// RoPE keys, gqa_merge.h), optionally recovers quality by distilling the attention projections
// from the original model (gqa_task.h), and writes a STANDARD GQA Llama model (no lrkv metadata).
#include <filesystem>
#include <optional>

#include "cli_common.h"
#include "io/model_io.h"
#include "backend/device_compute.h"
#include "commands.h"
#include "compress/gqa_merge.h"
#include "compress/tune/gqa_task.h"
#include "text_args.h"
#include "tune_args.h"

namespace lrkv::cli {


namespace {

struct ConvertGqaArgs {
  ModelArgs model;
  int groups = 0;
  std::string calib_path, out;
  TextSourceOptions text;
  CalibrationOptions calib;
  DistillArgs train;
};

Status check_args(const ConvertGqaArgs& a) {
  const auto ext = std::filesystem::path(a.out).extension();
  if (ext != ".gguf" && ext != ".safetensors") {
    return make_error(ErrorCode::kInvalidArgument, "-o {}: expected a .gguf or .safetensors output",
                      a.out);
  }
  std::error_code ec;
  if (std::filesystem::exists(a.out) && std::filesystem::equivalent(a.out, a.model.path, ec)) {
    return make_error(ErrorCode::kInvalidArgument, "-o {} is the input model", a.out);
  }
  if (a.groups < 1)
    return make_error(ErrorCode::kInvalidArgument, "--groups {} must be >= 1", a.groups);
  if (a.calib_path.empty() && a.text.path.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "convert-gqa needs calibration: pass --calib FILE or --text FILE");
  }
  if (a.train.o.steps > 0 && a.text.path.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--tune-steps {} needs training text (--text FILE)", a.train.o.steps);
  }
  return a.train.check();
}

Result<CalibrationStats> get_calibration(const ConvertGqaArgs& a, const Model& m) {
  if (!a.calib_path.empty()) {
    LRKV_ASSIGN_OR_RETURN(CalibrationStats c, load_calibration(a.calib_path));
    LRKV_RETURN_IF_ERROR(check_calibration_matches(c, m.config, a.calib_path));
    return c;
  }
  return calibrate_from_text_on(m, a.text, a.calib, a.train.device);
}

Status recover(const ConvertGqaArgs& a, const Model& original, Model* merged) {
  LRKV_ASSIGN_OR_RETURN(auto batches, a.train.batches(original, a.text));
  LRKV_ASSIGN_OR_RETURN(TrainGraphFactory graphs, training_graphs(a.train.device));
  LRKV_ASSIGN_OR_RETURN(auto task, GqaRecoveryTask::create(merged, graphs));
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<TrainGraph> teacher, graphs(original));
  log_info("recovery tuning: W_q, W_k, W_v, W_o of {} layers, {} steps, lr {}",
           merged->config.n_layer, a.train.o.steps, a.train.o.adam.lr);
  LRKV_ASSIGN_OR_RETURN(DistillReport r, run_distillation(*teacher, *task, batches, a.train.o));
  const int64_t n = static_cast<int64_t>(r.losses.size()), k = std::min<int64_t>(20, n);
  log_info("loss: first {} steps {:.4f}, last {} steps {:.4f}", k, r.mean_total(0, k), k,
           r.mean_total(n - k, n));
  return Status::Ok();
}

Status run_convert_gqa(const ConvertGqaArgs& a) {
  LRKV_RETURN_IF_ERROR(check_args(a));
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load());
  if (m.compressed()) {
    return make_error(ErrorCode::kInvalidArgument, "{} is compressed; convert the original model",
                      a.model.path);
  }
  if (m.config.n_kv_head % a.groups != 0) {
    return make_error(ErrorCode::kInvalidArgument, "--groups {} must divide the {} KV heads",
                      a.groups, m.config.n_kv_head);
  }
  LRKV_ASSIGN_OR_RETURN(CalibrationStats calib, get_calibration(a, m));
  LRKV_ASSIGN_OR_RETURN(Model merged, merge_kv_heads(m, calib, a.groups));
  log_info("merged {} KV heads into {} per layer", m.config.n_kv_head, merged.config.n_kv_head);
  if (a.train.o.steps > 0) LRKV_RETURN_IF_ERROR(recover(a, m, &merged));
  LRKV_RETURN_IF_ERROR(save_model(merged, a.out));
  log_info("wrote {} (standard GQA model, {} KV heads)", a.out, merged.config.n_kv_head);
  return Status::Ok();
}

}  // namespace

void register_convert_gqa(CLI::App& app) {
  auto a = std::make_shared<ConvertGqaArgs>();
  a->calib.max_tokens = 65536;
  CLI::App* cmd =
      app.add_subcommand("convert-gqa",
                         "Merge groups of KV heads (MHA -> GQA) by activation PCA, optionally "
                         "recover by distillation, "
                         "and write a standard GQA model (.gguf or .safetensors + config.json)");
  a->model.add_to(cmd);
  cmd->add_option("--groups", a->groups, "KV heads merged into one (divides the KV heads)")
      ->required();
  cmd->add_option("--calib", a->calib_path, "Calibration statistics from `lrkv calibrate`");
  add_text_options(cmd, &a->text, false,
                   "Calibration text (without --calib) and recovery-tuning text");
  cmd->add_option("--tokens", a->calib.max_tokens, "Calibration tokens with --text and no --calib")
      ->capture_default_str();
  a->train.o.steps = 0;
  a->train.add_to(cmd, 1e-4, "--tune-steps");
  cmd->add_option("-o,--output", a->out, "Output model (.gguf or .safetensors)")->required();
  cmd->callback([a] { finish(run_convert_gqa(*a)); });
}

}  // namespace lrkv::cli
