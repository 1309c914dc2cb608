// Loading and saving whole models in every supported format (the io layer's entry points).
#pragma once

#include <string>

#include "model/model.h"

namespace lrkv {

struct LoadOptions {
  // Tokenizer file for formats that keep it apart (llama2.c tokenizer.bin, HF tokenizer.json).
  // Empty: look next to the model (tokenizer.bin / tok<N>.bin / tokenizer.json).
  std::string tokenizer_path;
  // Dtype of the projection matrices in memory. kF32 by default; kF16/kBF16 keep half the bytes.
  // Quantized GGUF tensors (q8_0, q4_0, q4_K, q6_K) are dequantised on load.
  DType matrix_dtype = DType::kF32;
};

// Detects the format from the file's magic bytes (GGUF magic, safetensors header, else llama2.c;
// a directory or *.safetensors.index.json means sharded safetensors).
Result<Model> load_model(const std::string& path, const LoadOptions& options = {});
// Writes by extension: .gguf or .safetensors (+ config.json, tokenizer.json beside it).
// Written atomically (temporary file renamed into place).
Status save_model(const Model& model, const std::string& path);

// Format-specific entry points (used by load_model/save_model and tests).
Result<Model> load_gguf(const std::string& path, const LoadOptions& options);
Result<Model> load_safetensors(const std::string& path, const LoadOptions& options);
Result<Model> load_llama2c(const std::string& path, const LoadOptions& options);
Status save_gguf(const Model& model, const std::string& path);
Status save_safetensors(const Model& model, const std::string& path);

}  // namespace lrkv
