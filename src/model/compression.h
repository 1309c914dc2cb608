// CompressedAttention: the typed state that makes a Model compressed. Parsed once when a file is
// loaded and written once when it is saved (io/compression_metadata.h); everything else reads
// these fields, never the file's metadata strings.
//   plan          per layer, per group of KV heads: rank_k, rank_v; the method, key mode, budget
//   hadamard      the Walsh-Hadamard rotation is folded into the factors (`--hadamard`)
//   latent_quant  the cache quantisation the model runs with by default (`compress --latent-bits`)
//   provenance    how it was made ("calibration", "tune" JSON, "version"), kept for `lrkv info`
// The factors themselves are the named tensors blk.L.lrkv.* of Model::extra_tensors
// (model/latent_layer.h names and checks them; build_latent_layers turns them into LatentLayer).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "cache/kv_cache_spec.h"
#include "model/rank_plan.h"

namespace lrkv {

struct CompressedAttention {
  RankPlan plan;
  bool hadamard = false;
  std::optional<LatentQuantParams> latent_quant;
  std::map<std::string, std::string> provenance;  // key without the "lrkv." prefix -> value
};

}  // namespace lrkv
