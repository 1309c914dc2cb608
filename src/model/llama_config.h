// LlamaConfig: the hyper-parameters of a Llama-family decoder (Llama 1/2/3, TinyLlama, SmolLM,
// Qwen2 with q/k/v biases, llama2.c checkpoints).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "kernels/rope_layout.h"

namespace lrkv {

// RopeLayout: kernels/rope_layout.h

// Llama 3.1-style frequency scaling ("rope_type": "llama3").
struct RopeScaling {
  bool llama3 = false;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position = 8192;

  bool operator==(const RopeScaling&) const = default;
};

struct LlamaConfig {
  std::string arch = "llama";  // "llama" or "qwen2"
  std::string name;            // free text (file name or general.name)
  int n_vocab = 0;
  int d_model = 0;     // hidden size d
  int n_layer = 0;
  int n_head = 0;      // query heads
  int n_kv_head = 0;   // key/value heads (== n_head for MHA)
  int head_dim = 0;    // d_h
  int d_ff = 0;        // SwiGLU hidden size
  int max_seq = 2048;  // trained context length
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeLayout rope_layout = RopeLayout::kInterleaved;
  RopeScaling rope_scaling;
  // Optional per-pair divisors of the inverse frequencies ([head_dim/2], GGUF "rope_freqs.weight",
  // how llama.cpp stores Llama-3 scaling). Applied instead of rope_scaling when non-empty.
  std::vector<float> rope_freq_factors;
  bool tied_embeddings = false;
  bool qkv_bias = false;
  int bos_id = 1;
  int eos_id = 2;

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_kv_head * head_dim; }
  int group_size() const { return n_head / n_kv_head; }  // query heads per KV head
  // Bytes of a dense KV cache per token over all layers for elements of `elem_bytes`.
  int64_t kv_bytes_per_token(int elem_bytes) const {
    return int64_t{2} * n_layer * kv_dim() * elem_bytes;
  }
  // Checks the values are positive and consistent; the error names `source`.
  Status validate(const std::string& source) const;

  // Every field equal (floats compared exactly: a saved and reloaded config round-trips bit-exact).
  bool operator==(const LlamaConfig&) const = default;
};

// Per-pair inverse frequencies (length head_dim/2) including Llama-3 scaling.
void rope_inverse_frequencies(const LlamaConfig& cfg, float* inv_freq);

}  // namespace lrkv
