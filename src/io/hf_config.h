// HF transformers config.json <-> LlamaConfig, for model_type "llama", "mistral" (read as llama;
// a sliding window is ignored with a warning) and "qwen2" (q/k/v biases). HF checkpoints rotate
// half-split pairs (rotate_half), so configs read here have RopeLayout::kHalfSplit.
#pragma once

#include <string>

#include "core/dtype.h"
#include "model/llama_config.h"

namespace lrkv {

struct HfConfig {
  LlamaConfig config;    // rope_layout kHalfSplit; tied_embeddings from tie_word_embeddings
  bool has_bos = false;  // bos_token_id / eos_token_id were given (else tokenizer.json decides)
  bool has_eos = false;
  DType torch_dtype = DType::kF32;  // "torch_dtype" (f32 when absent or unknown)
};

// Parses config.json text; `source` (the file path) names the file in errors. Missing required
// keys give kCorruptFile naming the key; unsupported model types / rope_scaling kUnsupported.
Result<HfConfig> parse_hf_config(const std::string& text, const std::string& source);

// config.json text for `cfg` (LlamaForCausalLM, or Qwen2ForCausalLM when cfg.qkv_bias), with
// torch_dtype from `dtype`. The config must describe half-split RoPE (callers permute
// interleaved q/k rows first). rope_freq_factors must be expressible as llama3 rope_scaling, else
// kUnsupported.
Result<std::string> hf_config_json(const LlamaConfig& cfg, DType dtype);

}  // namespace lrkv
