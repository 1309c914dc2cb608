// lrkv synth --preset NAME -o OUT.gguf: a model of real shapes with seeded random weights.
#include "cli_common.h"
#include "io/model_io.h"
#include "commands.h"
#include "core/log.h"
#include "flag_ranges.h"
#include "model/synth.h"

namespace lrkv::cli {

namespace {

struct SynthArgs {
  std::string preset, out, dtype = "f16", fill = "normal";
  int layers = 0;
  uint64_t seed = kDefaultSeed;
  bool force = false;
};

Status run_synth(const SynthArgs& a) {
  LRKV_RETURN_IF_ERROR(check_output_paths(model_outputs("-o", a.out, a.force), {}));
  LRKV_RETURN_IF_ERROR(check_companions_absent(a.out, a.force));
  LRKV_ASSIGN_OR_RETURN(LlamaConfig cfg, preset_config(a.preset));
  if (a.layers > 0) cfg.n_layer = a.layers;
  LRKV_ASSIGN_OR_RETURN(DType dt, parse_dtype_flag("--dtype", a.dtype, {DType::kF32, DType::kF16, DType::kBF16}));
  if (a.fill != "normal" && a.fill != "uniform") {
    return make_error(ErrorCode::kInvalidArgument, "--fill {}: expected normal or uniform", a.fill);
  }
  const RandomFill fill = a.fill == "uniform" ? RandomFill::kUniform : RandomFill::kNormal;
  log_info("synthesising {} with {} layers ({} weights, {} draws, seed {})", a.preset, cfg.n_layer, a.dtype, a.fill,
           a.seed);
  LRKV_ASSIGN_OR_RETURN(Model m, make_random_model(cfg, a.seed, dt, fill));
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
  cmd->add_option("--layers", a->layers, "Number of layers (default: the preset's)")
      ->check(int_range(1, 4096));
  cmd->add_option("--dtype", a->dtype, "Weight matrix dtype: f32, f16, bf16")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("--fill", a->fill,
                  "Weight draws: normal, or uniform with the same mean and spread (about 10x faster to "
                  "generate; for speed runs, whose timings do not depend on the values)")
      ->capture_default_str();
  cmd->add_option("-o,--output", a->out, "Output file (.gguf or .safetensors)")->required();
  cmd->add_flag("--force", a->force,
                "With a .safetensors output: replace an existing config.json / tokenizer.json beside it");
  cmd->callback([a] { finish(run_synth(*a)); });
}

}  // namespace lrkv::cli
