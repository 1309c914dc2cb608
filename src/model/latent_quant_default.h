// A compressed model's default latent quantisation (CompressedAttention::latent_quant), stored as
// "lrkv.latent_quant" = {"bits": 4, "group": 32, "symmetric": false} by `lrkv compress
// --latent-bits`. Commands use it for the cache unless their own --latent-bits is given.
#pragma once

#include <optional>

#include "cache/kv_cache_spec.h"
#include "core/status.h"
#include "model/model.h"

namespace lrkv {

// Errors on a dense model (no lrkv.plan) and on out-of-range parameters.
Status set_default_latent_quant(Model& m, const LatentQuantParams& q);
// nullopt when the model stores none; an error naming the file when the entry is malformed.
Result<std::optional<LatentQuantParams>> default_latent_quant(const Model& m);

}  // namespace lrkv
