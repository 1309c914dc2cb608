// save_gguf: Model -> GGUF v3 (alignment 32) as llama.cpp expects it for "llama" / "qwen2":
// weights in their in-memory dtype (norms and biases f32), Q/K rows in the architecture's RoPE
// layout (interleaved for llama, half-split for qwen2), Llama-3 scaling as rope_freqs.weight,
// tokenizer.ggml.* metadata, plus extra tensors and lrkv.* metadata.
#include <algorithm>
#include <string>
#include <vector>

#include "io/gguf_vocab.h"
#include "io/compression_metadata.h"
#include "io/model_io.h"
#include "io/gguf_writer.h"
#include "model/model.h"

namespace lrkv {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void write_hparams(const LlamaConfig& cfg, GgufWriter* w) {
  auto u32 = [](int v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  const std::string a = cfg.arch + ".";
  w->set("general.architecture", GgufValue::str(cfg.arch));
  if (!cfg.name.empty()) w->set("general.name", GgufValue::str(cfg.name));
  w->set("general.alignment", u32(kGgufDefaultAlignment));
  w->set(a + "vocab_size", u32(cfg.n_vocab));
  w->set(a + "context_length", u32(cfg.max_seq));
  w->set(a + "embedding_length", u32(cfg.d_model));
  w->set(a + "block_count", u32(cfg.n_layer));
  w->set(a + "feed_forward_length", u32(cfg.d_ff));
  w->set(a + "attention.head_count", u32(cfg.n_head));
  w->set(a + "attention.head_count_kv", u32(cfg.n_kv_head));
  w->set(a + "attention.key_length", u32(cfg.head_dim));
  w->set(a + "attention.value_length", u32(cfg.head_dim));
  w->set(a + "attention.layer_norm_rms_epsilon", GgufValue::f32(cfg.norm_eps));
  w->set(a + "rope.dimension_count", u32(cfg.head_dim));
  w->set(a + "rope.freq_base", GgufValue::f32(cfg.rope_theta));
}

// Per-pair divisors of the inverse frequencies: the config's, or the Llama-3 scaling expressed
// as base_inv_freq / scaled_inv_freq. Empty when RoPE is unscaled.
std::vector<float> rope_freq_factors(const LlamaConfig& cfg) {
  if (!cfg.rope_freq_factors.empty() || !cfg.rope_scaling.llama3) return cfg.rope_freq_factors;
  const int half = cfg.head_dim / 2;
  LlamaConfig base = cfg;
  base.rope_scaling.llama3 = false;
  std::vector<float> plain(half), scaled(half), factors(half);
  rope_inverse_frequencies(base, plain.data());
  rope_inverse_frequencies(cfg, scaled.data());
  for (int i = 0; i < half; ++i) factors[i] = plain[i] / scaled[i];
  return factors;
}

// The tensor to write for one weight slot: RoPE rows permuted into the file's layout when the
// in-memory layout differs; vectors as f32.
Result<Tensor> file_tensor(const LlamaConfig& cfg, const WeightSlot& s) {
  const RopeLayout file_layout =
      cfg.arch == "qwen2" ? RopeLayout::kHalfSplit : RopeLayout::kInterleaved;
  Tensor t = *s.tensor;
  if (!s.is_matrix && t.dtype() != DType::kF32) {
    LRKV_ASSIGN_OR_RETURN(t, t.to(DType::kF32));
  }
  const bool is_q = ends_with(s.name, "attn_q.weight") || ends_with(s.name, "attn_q.bias");
  const bool is_k = ends_with(s.name, "attn_k.weight") || ends_with(s.name, "attn_k.bias");
  if ((is_q || is_k) && cfg.rope_layout != file_layout) {
    const int heads = is_q ? cfg.n_head : cfg.n_kv_head;
    const std::vector<int64_t> shape = t.shape();
    const Tensor rows = t.ndim() == 1 ? t.reshaped({t.dim(0), 1}) : t;  // biases: one-column rows
    t = permute_rope_rows(rows, heads, cfg.head_dim, file_layout == RopeLayout::kHalfSplit)
            .reshaped(shape);
  }
  return t;
}

Status add_weights(const Model& model, GgufWriter* w, const std::string& path) {
  const LlamaConfig& cfg = model.config;
  LlamaWeights weights = model.weights;  // shallow: tensors share storage
  LRKV_RETURN_IF_ERROR(validate_weights(cfg, weights, "saving " + path));
  Status status;
  for_each_weight(cfg, weights, [&](const WeightSlot& s) {
    if (!status.ok()) return;
    auto t = file_tensor(cfg, s);
    status = t.ok() ? w->add_tensor(s.name, *t) : t.status();
  });
  if (!status.ok()) return status.with_context(path);
  const std::vector<float> factors = rope_freq_factors(cfg);
  if (!factors.empty()) {
    Tensor f = Tensor::zeros(DType::kF32, {static_cast<int64_t>(factors.size())});
    std::copy(factors.begin(), factors.end(), f.f32());
    LRKV_RETURN_IF_ERROR(w->add_tensor("rope_freqs.weight", f));
  }
  for (const auto& [name, t] : model.extra_tensors) {
    if (Status s = w->add_tensor(name, t); !s.ok()) return s.with_context(path);
  }
  return Status::Ok();
}

}  // namespace

Status save_gguf(const Model& model, const std::string& path) {
  const LlamaConfig& cfg = model.config;
  if (cfg.arch != "llama" && cfg.arch != "qwen2") {
    return make_error(ErrorCode::kUnsupported,
                      "{}: cannot write architecture '{}' to GGUF (expected 'llama' or 'qwen2')",
                      path, cfg.arch);
  }
  GgufWriter w;
  write_hparams(cfg, &w);
  if (cfg.bos_id >= 0) w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(cfg.bos_id));
  if (cfg.eos_id >= 0) w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(cfg.eos_id));
  if (model.tokenizer != nullptr) write_gguf_vocab(model.tokenizer->vocab(), &w);
  for (const auto& [key, value] : model.extra_metadata) w.set(key, GgufValue::str(value));
  for (const auto& [key, value] : compression_metadata(model)) w.set(key, GgufValue::str(value));
  LRKV_RETURN_IF_ERROR(add_weights(model, &w, path));
  return w.write(path);
}

}  // namespace lrkv
