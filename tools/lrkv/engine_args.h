// --device cpu|cuda|auto for the commands that run the model (generate, perplexity, bench, eval):
// which backend's Engine (backend/engine_factory.h) runs it. `auto` (the default) takes the GPU
// when lrkv was built with CUDA and one is present, unless the requested cache kind runs only on
// the CPU (q8_0/q4_0/KIVI/f32 rows), which it then says.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "backend/engine_factory.h"

namespace lrkv::cli {

struct EngineArgs {
  std::string device = "auto";
  void add_to(CLI::App* cmd);
  // The device this run uses for a cache of `spec`: "cpu" or "cuda" (errors name --device).
  Result<std::string> resolve(const KvCacheSpec& spec) const;
  // The device the model is expected to run on, from the flags alone (before the model is loaded;
  // `flags` = the cache spec without the model's stored defaults): what --dtype auto follows.
  // Quiet, and never an error (resolve() reports them).
  std::string planned(const Result<KvCacheSpec>& flags) const;
  // An engine for `m` on resolve(spec).
  Result<std::unique_ptr<Engine>> make(const Model& m, const KvCacheSpec& spec) const;
};

}  // namespace lrkv::cli
