// Options shared by subcommands that load a model, and small formatting helpers.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "core/dtype.h"
#include "model/model.h"

namespace lrkv::cli {

struct ModelArgs {
  std::string path;
  std::string tokenizer;
  std::string dtype = "f32";
  int threads = 0;
  bool skip_finite_check = false;
  // Adds MODEL (positional), --tokenizer, --dtype, --threads, --skip-finite-check to `cmd`.
  void add_to(CLI::App* cmd);
  // Applies --threads and loads the model, logging what was loaded.
  Result<Model> load() const;
};

// Parses a dtype flag value among `allowed` ("f32", "f16", ...); the error names the flag.
Result<DType> parse_dtype_flag(const std::string& flag, const std::string& value,
                               std::initializer_list<DType> allowed);

std::string human_bytes(double bytes);   // "1.50 MiB"
std::string human_count(double n);       // "6.74 B", "15.2 M"

}  // namespace lrkv::cli
