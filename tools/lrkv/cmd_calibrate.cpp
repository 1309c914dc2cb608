// lrkv calibrate MODEL --text FILE --tokens N -o calib.safetensors: the activation statistics
// compression needs (XᵀX at the K/V input, K/V moments pre/post RoPE, per-frequency key moments).
#include "cli_common.h"
#include "commands.h"
#include "compress/calibrate_text.h"
#include "compress/calibration.h"
#include "core/log.h"
#include "backend/device_compute.h"
#include "text_args.h"

namespace lrkv::cli {

namespace {

struct CalibArgs {
  ModelArgs model;
  TextSourceOptions text;
  CalibrationOptions calib;
  std::string out, device = "cpu";
};

}  // namespace

namespace {
Status run_calibrate(const CalibArgs& a) {
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load());
  LRKV_ASSIGN_OR_RETURN(CalibrationStats s, calibrate_from_text_on(m, a.text, a.calib, a.device));
  LRKV_RETURN_IF_ERROR(save_calibration(s, a.out));
  log_info("wrote {} ({} tokens)", a.out, s.n_tokens);
  return Status::Ok();
}
}  // namespace

void register_calibrate(CLI::App& app) {
  auto a = std::make_shared<CalibArgs>();
  a->calib.max_tokens = 65536;
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Collect fp64 activation statistics on calibration text (for palu / mkv-pca / gqa)");
  a->model.add_to(cmd);
  add_text_options(cmd, &a->text, true, "Calibration text");
  cmd->add_option("--tokens", a->calib.max_tokens, "Calibration tokens (0 = the whole text)")->capture_default_str();
  cmd->add_option("-c,--ctx", a->calib.ctx, "Window length (default: the model's context)");
  cmd->add_option("-b,--batch", a->calib.batch, "Windows per forward pass")->capture_default_str();
  cmd->add_option("--device", a->device,
                  "cpu, or cuda: the forward pass and moment accumulation on the GPU (needs a -DLRKV_CUDA=ON "
                  "build; statistics still accumulate in fp64)")
      ->capture_default_str();
  cmd->add_option("-o,--output", a->out, "Output statistics file (.safetensors)")->required();
  cmd->callback([a] { finish(run_calibrate(*a)); });
}

}  // namespace lrkv::cli
