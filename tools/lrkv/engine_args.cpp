#include "engine_args.h"

#include "core/log.h"

namespace lrkv::cli {

void EngineArgs::add_to(CLI::App* cmd) {
  cmd->add_option("--device", device,
                  "Where the model runs: cpu, cuda (a -DLRKV_CUDA=ON build with a GPU) or auto (cuda when "
                  "present, else cpu)")
      ->capture_default_str();
}

Result<std::string> EngineArgs::resolve(const KvCacheSpec& spec) const {
  LRKV_RETURN_IF_ERROR(check_device(device));
  const std::string d = resolve_device(device);
  if (d == "cuda" && !device_runs_cache(d, spec)) {
    if (device == "cuda") {
      return make_error(ErrorCode::kUnsupported, "--device cuda runs f16/bf16 caches and --latent-bits latents, not "
                        "--kv-type {}; use --device cpu", spec.name());
    }
    log_info("--kv-type {} runs on the CPU only: using --device cpu", spec.name());
    return std::string("cpu");
  }
  return d;
}

std::string EngineArgs::planned(const Result<KvCacheSpec>& flags) const {
  const std::string d = resolve_device(device);
  if (d == "cuda" && device == "auto" && flags.ok() && !device_runs_cache(d, flags.value())) return "cpu";
  return d;
}

Result<std::unique_ptr<Engine>> EngineArgs::make(const Model& m, const KvCacheSpec& spec) const {
  LRKV_ASSIGN_OR_RETURN(std::string d, resolve(spec));
  LRKV_ASSIGN_OR_RETURN(auto e, make_engine(m, EngineOptions{d}));
  if (d != "cpu") log_info("running on {}", d);
  return e;
}

}  // namespace lrkv::cli
