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
  // Matrices stored as f16 or bf16 keep that type (the file's exact values, half the bytes of
  // f32); only the others become matrix_dtype. What the GPU engine wants: it runs 16-bit weights.
  bool keep_16bit_matrices = false;
  // Scan every loaded tensor (after dequantisation / conversion) for NaN/Inf and refuse the file
  // naming the tensor and the first bad index. Costs one pass over the weights (measured in
  // README "Non-finite checks"); turn off only for trusted files.
  bool check_finite = true;
};

// Detects the format from the file's magic bytes (GGUF magic, safetensors header, else llama2.c;
// a directory or *.safetensors.index.json means sharded safetensors). Then, unless
// options.check_finite is false, check_model_finite.
Result<Model> load_model(const std::string& path, const LoadOptions& options = {});
// Writes by extension: .gguf or .safetensors (+ config.json, tokenizer.json beside it).
// Written atomically (temporary file renamed into place).
Status save_model(const Model& model, const std::string& path);
// kCorruptFile naming model.source_path, the first tensor (weights in file order, then extra
// tensors, then the RoPE frequency factors) holding a NaN/Inf and its first bad index.
Status check_model_finite(const Model& model);

// Format-specific entry points (used by load_model/save_model and tests).
Result<Model> load_gguf(const std::string& path, const LoadOptions& options);
Result<Model> load_safetensors(const std::string& path, const LoadOptions& options);
Result<Model> load_llama2c(const std::string& path, const LoadOptions& options);
Status save_gguf(const Model& model, const std::string& path);
Status save_safetensors(const Model& model, const std::string& path);

}  // namespace lrkv
