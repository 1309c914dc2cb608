// load_gguf: GGUF "llama" / "qwen2" files -> Model. Weights stay views of the mapped file when
// their dtype is already the one asked for; quantized ones are dequantised. Tensors outside the
// Llama set become Model::extra_tensors, "lrkv.*" metadata Model::extra_metadata.
#include <algorithm>
#include <climits>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "core/log.h"
#include "io/compression_metadata.h"
#include "io/model_io.h"
#include "io/gguf_reader.h"
#include "io/gguf_vocab.h"
#include "model/model.h"

namespace lrkv {

namespace {

constexpr const char* kRopeFreqs = "rope_freqs.weight";

// An int-valued hyper-parameter `key` into *out (absent and !required: unchanged).
Status get_dim(const GgufFile& f, const std::string& key, int* out, bool required = true) {
  int64_t v = *out;
  LRKV_RETURN_IF_ERROR(f.get_int(key, &v, required));
  if (v < 0 || v > INT_MAX) {
    return make_error(ErrorCode::kCorruptFile, "{}: metadata '{}' = {} is out of range", f.path(),
                      key, v);
  }
  *out = static_cast<int>(v);
  return Status::Ok();
}

Status get_float(const GgufFile& f, const std::string& key, float* out, bool required = true) {
  double v = *out;
  LRKV_RETURN_IF_ERROR(f.get_float(key, &v, required));
  *out = static_cast<float>(v);
  return Status::Ok();
}

// Architecture-specific conventions and general.* metadata.
Status read_arch(const GgufFile& f, LlamaConfig* cfg) {
  LRKV_RETURN_IF_ERROR(f.get_string("general.architecture", &cfg->arch));
  if (cfg->arch == "llama") {
    cfg->rope_layout = RopeLayout::kInterleaved;
    cfg->qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  } else if (cfg->arch == "qwen2") {
    cfg->rope_layout = RopeLayout::kHalfSplit;
    cfg->qkv_bias = true;
  } else {
    return make_error(
        ErrorCode::kUnsupported,
        "{}: general.architecture '{}' is not supported (expected 'llama' or 'qwen2')", f.path(),
        cfg->arch);
  }
  cfg->name = std::filesystem::path(f.path()).stem().string();
  return f.get_string("general.name", &cfg->name, /*required=*/false);
}

// "<arch>.*" hyper-parameters. n_vocab is filled in later when the file has no vocab_size.
Status read_hparams(const GgufFile& f, LlamaConfig* cfg) {
  const std::string a = cfg->arch + ".";
  LRKV_RETURN_IF_ERROR(get_dim(f, a + "context_length", &cfg->max_seq));
  LRKV_RETURN_IF_ERROR(get_dim(f, a + "embedding_length", &cfg->d_model));
  LRKV_RETURN_IF_ERROR(get_dim(f, a + "block_count", &cfg->n_layer));
  LRKV_RETURN_IF_ERROR(get_dim(f, a + "feed_forward_length", &cfg->d_ff));
  LRKV_RETURN_IF_ERROR(get_dim(f, a + "attention.head_count", &cfg->n_head));
  cfg->n_kv_head = cfg->n_head;
  LRKV_RETURN_IF_ERROR(get_dim(f, a + "attention.head_count_kv", &cfg->n_kv_head, false));
  LRKV_RETURN_IF_ERROR(get_float(f, a + "attention.layer_norm_rms_epsilon", &cfg->norm_eps));
  cfg->rope_theta = 10000.0f;
  LRKV_RETURN_IF_ERROR(get_float(f, a + "rope.freq_base", &cfg->rope_theta, false));
  cfg->head_dim = cfg->n_head > 0 ? cfg->d_model / cfg->n_head : 0;
  LRKV_RETURN_IF_ERROR(get_dim(f, a + "attention.key_length", &cfg->head_dim, false));
  cfg->n_vocab = 0;
  LRKV_RETURN_IF_ERROR(get_dim(f, a + "vocab_size", &cfg->n_vocab, false));
  LRKV_RETURN_IF_ERROR(read_gguf_token_id(f, "tokenizer.ggml.bos_token_id", &cfg->bos_id));
  LRKV_RETURN_IF_ERROR(read_gguf_token_id(f, "tokenizer.ggml.eos_token_id", &cfg->eos_id));
  cfg->tied_embeddings = f.find_tensor("output.weight") == nullptr;
  return Status::Ok();
}

// Bounds that keep products such as n_head * head_dim far from int overflow (LlamaConfig::
// validate checks positivity and vocab/d_model/n_layer; these cover the other sizes).
Status check_sizes(const GgufFile& f, const LlamaConfig& cfg) {
  constexpr int64_t kMax = int64_t{1} << 24;
  const int64_t q = int64_t{cfg.n_head} * cfg.head_dim, kv = int64_t{cfg.n_kv_head} * cfg.head_dim;
  if (q > kMax || kv > kMax || cfg.d_ff > kMax || cfg.max_seq > kMax) {
    return make_error(
        ErrorCode::kCorruptFile,
        "{}: implausible sizes: {} heads x head_dim {}, {} kv heads, d_ff {}, context {}", f.path(),
        cfg.n_head, cfg.head_dim, cfg.n_kv_head, cfg.d_ff, cfg.max_seq);
  }
  return Status::Ok();
}

// rope_freqs.weight ([head_dim/2] divisors of the inverse frequencies), any dtype.
Status read_rope_freqs(const GgufFile& f, LlamaConfig* cfg) {
  const GgufTensorInfo* info = f.find_tensor(kRopeFreqs);
  if (info == nullptr) return Status::Ok();
  auto t = f.view(*info).to(DType::kF32);
  if (!t.ok()) return Status(t.status()).with_context(f.path());
  cfg->rope_freq_factors.assign(t->f32(), t->f32() + t->numel());
  return Status::Ok();
}

// Points every Llama weight at its tensor in the file; records the names used.
void map_weights(const GgufFile& f, Model* m, std::set<std::string>* used) {
  std::unordered_map<std::string, const GgufTensorInfo*> by_name;
  for (const GgufTensorInfo& t : f.tensors()) by_name[t.name] = &t;
  for_each_weight(m->config, m->weights, [&](const WeightSlot& s) {
    auto it = by_name.find(s.name);
    if (it == by_name.end()) return;  // validate_weights reports it
    *s.tensor = f.view(*it->second);
    used->insert(s.name);
  });
}

// Tensors outside the Llama set (quantized ones dequantised), lrkv.* metadata and the chat template.
Status read_extras(const GgufFile& f, const std::set<std::string>& used, Model* m) {
  for (const GgufTensorInfo& info : f.tensors()) {
    if (used.count(info.name) != 0) continue;
    Tensor t = f.view(info);
    if (dtype_is_quantized(t.dtype())) {
      auto r = t.to(DType::kF32);
      if (!r.ok()) return Status(r.status()).with_context(f.path());
      t = std::move(r).value();
    }
    m->extra_tensors[info.name] = std::move(t);
  }
  for (const auto& [key, v] : f.metadata()) {
    // lrkv.* and the chat template (`lrkv serve` recognises its format) are kept.
    if (key.rfind("lrkv.", 0) != 0 && key != "tokenizer.chat_template") continue;
    m->extra_metadata[key] = v.type == GgufType::kString ? v.s : v.to_json();
  }
  return Status::Ok();
}

// The tokenizer from tokenizer.ggml.*; sets bos/eos and (when absent) n_vocab.
Status read_tokenizer(const GgufFile& f, Model* m) {
  Vocab vocab;
  LRKV_ASSIGN_OR_RETURN(const bool has_vocab, read_gguf_vocab(f, &vocab));
  if (!has_vocab) return Status::Ok();
  m->config.bos_id = vocab.bos_id;
  m->config.eos_id = vocab.eos_id;
  if (m->config.n_vocab == 0) m->config.n_vocab = static_cast<int>(vocab.tokens.size());
  auto tok = make_tokenizer(std::move(vocab));
  if (tok.ok()) {
    m->tokenizer = std::move(tok).value();
  } else if (tok.status().code() == ErrorCode::kUnsupported) {
    log_warn("{}: loading without a tokenizer: {}", f.path(), tok.status().message());
  } else {
    return Status(tok.status()).with_context(f.path());
  }
  return Status::Ok();
}

}  // namespace

Result<Model> load_gguf(const std::string& path, const LoadOptions& options) {
  LRKV_ASSIGN_OR_RETURN(GgufFile f, read_gguf(path));
  Model m;
  m.source_path = path;
  m.source_format = ModelFormat::kGguf;
  LlamaConfig& cfg = m.config;
  LRKV_RETURN_IF_ERROR(read_arch(f, &cfg));
  LRKV_RETURN_IF_ERROR(read_hparams(f, &cfg));
  LRKV_RETURN_IF_ERROR(read_rope_freqs(f, &cfg));
  LRKV_RETURN_IF_ERROR(read_tokenizer(f, &m));
  if (cfg.n_vocab == 0) {
    if (const GgufTensorInfo* e = f.find_tensor("token_embd.weight"); e && e->shape.size() == 2) {
      cfg.n_vocab = static_cast<int>(std::min<int64_t>(e->shape[0], INT_MAX));
    }
  }
  LRKV_RETURN_IF_ERROR(check_sizes(f, cfg));
  LRKV_RETURN_IF_ERROR(cfg.validate(path));
  std::set<std::string> used = {kRopeFreqs};
  map_weights(f, &m, &used);
  LRKV_RETURN_IF_ERROR(validate_weights(cfg, m.weights, path));
  if (Status s = convert_weights(cfg, m.weights, options.matrix_dtype, options.keep_16bit_matrices); !s.ok()) {
    return s.with_context(path);
  }
  LRKV_RETURN_IF_ERROR(read_extras(f, used, &m));
  LRKV_RETURN_IF_ERROR(read_compression_metadata(m));
  return m;
}

}  // namespace lrkv
