// The file form of CompressedAttention (model/compression.h): string metadata entries of lrkv's
// GGUF and safetensors files, read in one place and written in one place.
//   lrkv.plan          RankPlan JSON (model/rank_plan.h)            presence = compressed model
//   lrkv.hadamard      "1" when the Walsh-Hadamard rotation is folded into the factors
//   lrkv.latent_quant  {"bits": 4, "group": 32, "symmetric": false}  default latent quantisation
//   lrkv.version, lrkv.calibration, lrkv.tune                        provenance, kept as text
#pragma once

#include <map>
#include <string>

#include "model/model.h"

namespace lrkv {

// Moves the entries above from `m.extra_metadata` into `m.compression` (validated against the
// model's config; errors name the file and the entry). A model without lrkv.plan but with one of
// the others is an error. Other keys stay in extra_metadata.
Status read_compression_metadata(Model& m);

// The metadata entries of `m.compression` (none for a dense model), to write beside
// m.extra_metadata.
std::map<std::string, std::string> compression_metadata(const Model& m);

}  // namespace lrkv
