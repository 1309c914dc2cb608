// lrkv compress MODEL --method palu|lorc|mkv-pca --granularity head|group:S|joint --budget B
//   [--calib FILE | --text FILE --tokens N] [--plan plan.json] [--hadamard]
//   [--latent-bits 8|4|3|2 --latent-group G --latent-sym] -o OUT.gguf
// Writes one GGUF with the factor tensors and the plan; the input file is only read. An input that
// is already compressed at higher rank (e.g. from `lrkv tune`) is truncated to the plan instead.
#include <optional>

#include "cli_common.h"
#include "model/methods.h"
#include "io/model_io.h"
#include "commands.h"
#include "compress/compressor.h"
#include "compress/truncate.h"
#include "model/latent_hadamard.h"
#include "model/latent_layer.h"
#include "model/latent_quant_default.h"
#include "core/log.h"
#include "core/mmap_file.h"
#include "backend/device_compute.h"
#include "flag_ranges.h"
#include "text_args.h"

namespace lrkv::cli {


namespace {

struct CompressArgs {
  ModelArgs model;
  std::string method, granularity, plan_path, calib_path, out;
  double budget = 0.5;
  TextSourceOptions text;
  CalibrationOptions calib;
  bool hadamard = false;
  LatentQuantParams latent;
  std::string device = "cpu";  // where factorisations (and --text calibration) run
};

// --hadamard folds the rotation into the factors; --latent-bits records the latent quantisation
// every lrkv command uses for this model's cache unless told otherwise.
// A plan made for quantized latents (`lrkv plan --latent-bits`) brings its quantisation along
// unless --latent-bits is given.
Status finish_model(const CompressArgs& a, const RankPlan& plan, Model& out) {
  if (a.hadamard && !has_hadamard(out)) LRKV_RETURN_IF_ERROR(fold_hadamard_factors(out));
  LatentQuantParams q = a.latent;
  if (q.bits == 0 && plan.latent_bits > 0) q = LatentQuantParams{plan.latent_bits, plan.latent_group, plan.latent_symmetric};
  if (q.bits > 0) LRKV_RETURN_IF_ERROR(set_default_latent_quant(out, q));
  return Status::Ok();
}

Result<RankPlan> make_plan(const CompressArgs& a, const LlamaConfig& cfg) {
  if (!a.plan_path.empty()) {
    LRKV_ASSIGN_OR_RETURN(std::string text, read_text_file(a.plan_path, kMaxConfigJsonBytes));
    LRKV_ASSIGN_OR_RETURN(RankPlan p, RankPlan::parse(text, a.plan_path));
    LRKV_RETURN_IF_ERROR(p.validate(cfg, a.plan_path));
    return p;
  }
  if (a.method.empty()) return make_error(ErrorCode::kInvalidArgument, "--method is required (or --plan FILE)");
  LRKV_ASSIGN_OR_RETURN(const MethodDesc* method, find_method(a.method));
  // The method's own default (Palu: groups of 4 KV heads; LoRC: joint; MatryoshkaKV: per head).
  const std::string gran = a.granularity.empty() ? method->default_granularity(cfg) : a.granularity;
  return uniform_plan(cfg, a.method, gran, a.budget);
}

Status run_compress(const CompressArgs& a) {
  std::vector<std::string> inputs = a.model.input_files();
  inputs.insert(inputs.end(), {a.plan_path, a.calib_path, a.text.path});
  LRKV_RETURN_IF_ERROR(check_output_paths({{"-o", a.out, {".gguf"}}}, inputs));
  if (a.latent.bits > 0) {  // check the flags before any long work
    KvCacheSpec probe(DType::kF16);
    probe.latent = a.latent;
    LRKV_RETURN_IF_ERROR(probe.validate());
  }
  LRKV_ASSIGN_OR_RETURN(Factorizer factorizer, make_factorizer(a.device));  // fails fast without CUDA
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load());
  CompressArgs b = a;
  if (m.compressed()) {  // e.g. a full-rank `lrkv tune` model: compress_model keeps leading components
    const RankPlan& full = m.compression->plan;
    if (!a.method.empty() && a.method != full.method) {
      return make_error(ErrorCode::kInvalidArgument, "--method {}: {} is already compressed with {}", a.method,
                        a.model.path, full.method);
    }
    b.method = full.method;
    if (b.granularity.empty()) b.granularity = full.granularity;
  }
  LRKV_ASSIGN_OR_RETURN(RankPlan plan, make_plan(b, m.config));
  std::optional<CalibrationStats> calib;
  if (m.compressed()) {
    plan.method = m.compression->plan.method;  // the factors are the input's
    log_info("truncating {} ({} {})", a.model.path, plan.method, m.compression->plan.granularity);
  } else if (!a.calib_path.empty()) {
    LRKV_ASSIGN_OR_RETURN(calib, load_calibration(a.calib_path));
    LRKV_RETURN_IF_ERROR(check_calibration_matches(*calib, m.config, a.calib_path));
  } else if (method_needs_calibration(plan.method)) {
    if (a.text.path.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "--method {} needs calibration: pass --calib FILE (from `lrkv "
                        "calibrate`) or --text FILE", plan.method);
    }
    LRKV_ASSIGN_OR_RETURN(calib, calibrate_from_text_on(m, a.text, a.calib, a.device));
  }
  log_info("plan: {} {} budget {} -> kept {:.4f} of the KV cache ({} latent values per token)", plan.method,
           plan.granularity, plan.budget, plan.kept_fraction(m.config), plan.latent_values_per_token());
  LRKV_ASSIGN_OR_RETURN(Model out, compress_model(m, plan, calib ? &*calib : nullptr, factorizer));
  LRKV_RETURN_IF_ERROR(finish_model(a, plan, out));
  LRKV_RETURN_IF_ERROR(save_model(out, a.out));
  log_info("wrote {}", a.out);
  return Status::Ok();
}

}  // namespace

void register_compress(CLI::App& app) {
  auto a = std::make_shared<CompressArgs>();
  a->calib.max_tokens = 65536;
  CLI::App* cmd = app.add_subcommand(
      "compress", "Compress a model's KV cache with low-rank projections; writes one GGUF that every "
                  "lrkv command loads");
  a->model.add_to(cmd);
  cmd->add_option("--method", a->method, "palu (whitened SVD), lorc (plain SVD) or mkv-pca (PCA of post-RoPE keys/values)");
  cmd->add_option("--granularity", a->granularity,
                  "head, group:S (S consecutive KV heads) or joint (default: group:4, or the largest "
                  "divisor of the KV heads below 4)");
  cmd->add_option("--budget", a->budget, "Kept fraction of the KV cache, in (0, 1]")
      ->capture_default_str()
      ->check(real_range(0.0, 1.0, true));
  cmd->add_option("--plan", a->plan_path, "Rank plan JSON (from `lrkv plan`) instead of method/granularity/budget");
  cmd->add_option("--calib", a->calib_path, "Calibration statistics from `lrkv calibrate`");
  add_text_options(cmd, &a->text, false, "Calibration text when no --calib is given");
  cmd->add_option("--tokens", a->calib.max_tokens, "Calibration tokens with --text")
      ->capture_default_str()
      ->check(int_range(0, kMaxCount));
  cmd->add_flag("--hadamard", a->hadamard,
                "Fold the Walsh-Hadamard rotation into the latent factors (spreads outliers before "
                "--latent-bits quantisation; unquantised results are unchanged)");
  cmd->add_option("--latent-bits", a->latent.bits,
                  "Store 8, 4, 3 or 2 as the model's default latent quantisation (used by every "
                  "command unless its own --latent-bits is given; 0 = none)")
      ->capture_default_str()
      ->check(int_range(0, 8));
  cmd->add_option("--latent-group", a->latent.group, "With --latent-bits: values per fp16 scale (0 = whole slice)")
      ->capture_default_str()
      ->check(int_range(0, kMaxLen));
  cmd->add_flag("--latent-sym", a->latent.symmetric, "With --latent-bits: symmetric quantisation");
  cmd->add_option("--device", a->device,
                  "cpu, or cuda: factorisations (cuSOLVER) and --text calibration on the GPU (needs a "
                  "-DLRKV_CUDA=ON build)")
      ->capture_default_str();
  cmd->add_option("-o,--output", a->out, "Output model (.gguf)")->required();
  cmd->callback([a] { finish(run_compress(*a)); });
}

}  // namespace lrkv::cli
