// Model: config + weights + tokenizer, as loaded from any supported file.
// Extra tensors and lrkv.* metadata carry compression factors in lrkv's own GGUF files.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "model/compression.h"
#include "model/llama_config.h"
#include "model/llama_weights.h"
#include "model/tokenizer.h"

namespace lrkv {

enum class ModelFormat { kGguf, kSafetensors, kLlama2c };
const char* model_format_name(ModelFormat f);

struct Model {
  LlamaConfig config;
  LlamaWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the file has none and none was given
  std::string source_path;
  ModelFormat source_format = ModelFormat::kGguf;
  // Set for a compressed model: plan, Hadamard flag, default latent quantisation (compression.h).
  std::optional<CompressedAttention> compression;
  bool compressed() const { return compression.has_value(); }
  // Tensors beyond the Llama set (e.g. lrkv compression factors), by name.
  std::map<std::string, Tensor> extra_tensors;
  // Other string metadata beyond the Llama set, key -> string value (unknown lrkv.* keys).
  std::map<std::string, std::string> extra_metadata;
};

}  // namespace lrkv
