// lrkv synth --preset NAME -o OUT.gguf: a model of real shapes with seeded random weights.
#include "cli_common.h"
#include "io/model_io.h"
#include "commands.h"
#include "core/log.h"
#include "model/synth.h"

namespace lrkv::cli {

namespace {

struct SynthArgs {
  std::string preset, out, dtype = "f16";
  int layers = 0;
  uint64_t seed = 1;
};

Status run_synth(const SynthArgs& a) {
  LRKV_ASSIGN_OR_RETURN(LlamaConfig cfg, preset_config(a.preset));
  if (a.layers < 0) return make_error(ErrorCode::kInvalidArgument, "--layers must be positive, got {}", a.layers);
  if (a.layers > 0) cfg.n_layer = a.layers;
  LRKV_ASSIGN_OR_RETURN(DType dt, parse_dtype_flag("--dtype", a.dtype, {DType::kF32, DType::kF16, DType::kBF16}));
  log_info("synthesising {} with {} layers ({} weights, seed {})", a.preset, cfg.n_layer, a.dtype, a.seed);
  LRKV_ASSIGN_OR_RETURN(Model m, make_random_model(cfg, a.seed, dt));
  LRKV_RETURN_IF_ERROR(save_model(m, a.out));
  log_info("wrote {}", a.out);
  return Status::Ok();
}

}  // namespace

void register_synth(CLI::App& app) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Write a model of real shapes with seeded random weights (speed work and tests)");
  cmd->add_option("--preset", a->preset, "Shape preset: " + preset_names())->required();
  cmd->add_option("--layers", a->layers, "Number of layers (default: the preset's)");
  cmd->add_option("--dtype", a->dtype, "Weight matrix dtype: f32, f16, bf16")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("-o,--output", a->out, "Output file (.gguf or .safetensors)")->required();
  cmd->callback([a] { finish(run_synth(*a)); });
}

}  // namespace lrkv::cli
