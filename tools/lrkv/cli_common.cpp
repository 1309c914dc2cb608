#include "cli_common.h"
#include "io/model_io.h"

#include <chrono>
#include <filesystem>

#include "backend/engine_factory.h"
#include "core/log.h"
#include "core/thread_pool.h"

namespace lrkv::cli {

void ModelArgs::add_to(CLI::App* cmd) {
  cmd->add_option("model", path, "Model file: GGUF, HF safetensors (file, directory or index) or "
                                 "llama2.c .bin")->required();
  cmd->add_option("--tokenizer", tokenizer,
                  "Tokenizer file when not beside the model (llama2.c tokenizer.bin, tokenizer.json)");
  cmd->add_option("--dtype", dtype,
                  "In-memory dtype of the weight matrices: f32, f16, bf16 or auto (on the GPU: the file's f16/bf16 "
                  "as stored, other types as bf16; on the CPU: f32)")
      ->capture_default_str();
  cmd->add_option("--threads", threads, "CPU threads, 1..1024 (default: all cores, or LRKV_THREADS)");
  cmd->add_flag("--skip-finite-check", skip_finite_check,
                "Trusted files only: do not scan the weights for NaN/Inf at load");
}

Result<Model> ModelArgs::load(const std::string& device) const {
  if (threads != 0) {
    LRKV_RETURN_IF_ERROR(check_thread_count(threads, "--threads"));
    set_global_threads(threads);
  }
  LoadOptions lo;
  lo.tokenizer_path = tokenizer;
  lo.check_finite = !skip_finite_check;
  if (dtype == "auto") {
    const bool gpu = resolve_device(device) == "cuda";
    lo.matrix_dtype = gpu ? DType::kBF16 : DType::kF32;
    lo.keep_16bit_matrices = gpu;
  } else {
    auto t = parse_dtype_flag("--dtype", dtype, {DType::kF32, DType::kF16, DType::kBF16});
    if (!t.ok()) return make_error(ErrorCode::kInvalidArgument, "--dtype '{}': expected f32, f16, bf16 or auto", dtype);
    lo.matrix_dtype = *t;
  }
  const auto t0 = std::chrono::steady_clock::now();
  LRKV_ASSIGN_OR_RETURN(Model m, load_model(path, lo));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("loaded {} ({}, {} layers, d_model {}, {} heads / {} kv heads) in {:.2f} s", path,
           model_format_name(m.source_format), m.config.n_layer, m.config.d_model, m.config.n_head,
           m.config.n_kv_head, s);
  return m;
}

std::vector<std::string> ModelArgs::input_files() const {
  namespace fs = std::filesystem;
  std::vector<std::string> files = {path};
  if (!tokenizer.empty()) files.push_back(tokenizer);
  std::error_code ec;
  const bool is_dir = fs::is_directory(path, ec);
  const fs::path dir = is_dir ? fs::path(path) : fs::path(path).parent_path();
  const std::string name = fs::path(path).filename().string();
  const bool sharded = is_dir || name.ends_with(".safetensors.index.json");
  const bool hf = sharded || name.ends_with(".safetensors");
  const bool llama2c = !hf && !name.ends_with(".gguf");
  for (const auto& e : fs::directory_iterator(dir.empty() ? fs::path(".") : dir, ec)) {
    const std::string f = e.path().filename().string();
    const bool take = (sharded && f.ends_with(".safetensors")) ||
                      (hf && (f == "config.json" || f == "tokenizer.json")) ||
                      (llama2c && f.starts_with("tok") && f.ends_with(".bin"));
    if (take) files.push_back(e.path().string());
  }
  return files;
}

std::vector<OutputPath> model_outputs(const std::string& flag, const std::string& path, bool force,
                                      std::vector<std::string> extensions) {
  std::vector<OutputPath> v = {{flag, path, std::move(extensions)}};
  if (std::filesystem::path(path).extension() == ".safetensors") {
    const auto dir = std::filesystem::path(path).parent_path();
    v.push_back({flag + " (config.json beside it)", (dir / "config.json").string(), {}});
    v.push_back({flag + " (tokenizer.json beside it)", (dir / "tokenizer.json").string(), {}});
  }
  return v;
}

Status check_companions_absent(const std::string& path, bool force) {
  namespace fs = std::filesystem;
  if (force || fs::path(path).extension() != ".safetensors") return Status::Ok();
  const auto dir = fs::path(path).parent_path();
  for (const char* name : {"config.json", "tokenizer.json"}) {
    std::error_code ec;
    const fs::path c = dir / name;
    if (fs::exists(c, ec)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "-o {}: {} exists and a .safetensors output writes its own there; choose an empty "
                        "directory or pass --force to replace it", path, c.string());
    }
  }
  return Status::Ok();
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
