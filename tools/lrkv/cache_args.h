// KV-cache options shared by subcommands that run the engine: --kv-type, --latent-bits,
// --latent-group, --latent-sym, --kivi-group, --kivi-residual -> KvCacheSpec, and --hadamard
// (fold the Walsh-Hadamard rotation into a compressed model's factors at load, as
// `lrkv compress --hadamard` does offline).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cache/kv_cache_spec.h"
#include "model/model.h"

namespace lrkv::cli {

struct CacheArgs {
  std::string kv_type = "f16";  // as llama.cpp: half the bytes of f32, same results within rounding
  LatentQuantParams latent;
  KiviParams kivi;
  bool hadamard = false;
  CLI::Option* latent_bits_flag = nullptr;  // set by add_to: was --latent-bits given?
  void add_to(CLI::App* cmd);
  // Applies --hadamard to a loaded model (error on a dense model; no-op when already rotated).
  Status prepare(Model& m) const;
  // The validated spec; errors name the flag and its allowed values. Without --latent-bits, a
  // compressed `model`'s stored default (`lrkv compress --latent-bits`) is used.
  Result<KvCacheSpec> spec(const Model* model = nullptr) const;
};

// Bytes per token averaged over a full window of `ctx` tokens, all layers: KIVI counts its fp16
// window (bytes_at_length(ctx) / ctx); every other cache is `steady` (its bytes_per_token).
double bytes_per_token_at(const LlamaConfig& cfg, const KvCacheSpec& spec, int64_t steady, int ctx);

}  // namespace lrkv::cli
