#include "cli_common.h"

#include <chrono>

#include "core/log.h"
#include "core/thread_pool.h"

namespace lrkv::cli {

void ModelArgs::add_to(CLI::App* cmd) {
  cmd->add_option("model", path, "Model file: GGUF, HF safetensors (file, directory or index) or "
                                 "llama2.c .bin")->required();
  cmd->add_option("--tokenizer", tokenizer,
                  "Tokenizer file when not beside the model (llama2.c tokenizer.bin, tokenizer.json)");
  cmd->add_option("--dtype", dtype, "In-memory dtype of the weight matrices: f32, f16 or bf16")
      ->capture_default_str();
  cmd->add_option("--threads", threads, "CPU threads, 1..1024 (default: all cores, or LRKV_THREADS)");
  cmd->add_flag("--skip-finite-check", skip_finite_check,
                "Trusted files only: do not scan the weights for NaN/Inf at load");
}

Result<Model> ModelArgs::load() const {
  if (threads != 0) {
    LRKV_RETURN_IF_ERROR(check_thread_count(threads, "--threads"));
    set_global_threads(threads);
  }
  LoadOptions lo;
  lo.tokenizer_path = tokenizer;
  lo.check_finite = !skip_finite_check;
  LRKV_ASSIGN_OR_RETURN(lo.matrix_dtype, parse_dtype_flag("--dtype", dtype,
                                                          {DType::kF32, DType::kF16, DType::kBF16}));
  const auto t0 = std::chrono::steady_clock::now();
  LRKV_ASSIGN_OR_RETURN(Model m, load_model(path, lo));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("loaded {} ({}, {} layers, d_model {}, {} heads / {} kv heads) in {:.2f} s", path,
           model_format_name(m.source_format), m.config.n_layer, m.config.d_model, m.config.n_head,
           m.config.n_kv_head, s);
  return m;
}

Result<DType> parse_dtype_flag(const std::string& flag, const std::string& value,
                               std::initializer_list<DType> allowed) {
  DType t;
  std::string names;
  for (DType a : allowed) names += (names.empty() ? "" : ", ") + std::string(dtype_name(a));
  if (!dtype_from_name(value, &t) || std::find(allowed.begin(), allowed.end(), t) == allowed.end()) {
    return make_error(ErrorCode::kInvalidArgument, "{} '{}': expected one of {}", flag, value, names);
  }
  return t;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.2f} {}", b, units[u]);
}

std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.2f} K", n / 1e3);
  return fmt::format("{:.0f}", n);
}

}  // namespace lrkv::cli
