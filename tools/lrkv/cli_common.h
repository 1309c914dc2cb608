// Options shared by subcommands that load a model, and small formatting helpers.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/output_path.h"
#include "model/model.h"

namespace lrkv::cli {

struct ModelArgs {
  std::string path;
  std::string tokenizer;
  std::string dtype = "auto";
  int threads = 0;
  bool skip_finite_check = false;
  // Adds MODEL (positional), --tokenizer, --dtype, --threads, --skip-finite-check to `cmd`.
  void add_to(CLI::App* cmd);
  // Applies --threads and loads the model, logging what was loaded. `device`: the --device the
  // model runs on (cpu, cuda or auto), which --dtype auto follows: 16-bit matrices for the GPU
  // (f16/bf16 as stored, others bf16), f32 for the CPU.
  Result<Model> load(const std::string& device = "cpu") const;
  // Every file loading the model reads (the model, its shards, config.json, tokenizer files,
  // --tokenizer): outputs must not be any of them.
  std::vector<std::string> input_files() const;
};

// A model output: .gguf or .safetensors; a .safetensors output also writes config.json and
// tokenizer.json beside it, which must not exist already unless `force` (and are never inputs).
std::vector<OutputPath> model_outputs(const std::string& flag, const std::string& path, bool force,
                                      std::vector<std::string> extensions = {".gguf", ".safetensors"});
Status check_companions_absent(const std::string& path, bool force);

// Parses a dtype flag value among `allowed` ("f32", "f16", ...); the error names the flag.
Result<DType> parse_dtype_flag(const std::string& flag, const std::string& value,
                               std::initializer_list<DType> allowed);

std::string human_bytes(double bytes);   // "1.50 MiB"
std::string human_count(double n);       // "6.74 B", "15.2 M"

}  // namespace lrkv::cli
