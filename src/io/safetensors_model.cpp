// HF transformers checkpoints: safetensors weights (single file or sharded) + config.json +
// tokenizer.json. Loading maps HF names to canonical ones and keeps half-split RoPE rows as they
// are; saving permutes interleaved q/k rows to half-split so the result is a standard HF
// checkpoint that transformers loads.
#include <deque>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "io/compression_metadata.h"
#include "io/model_io.h"
#include "core/mmap_file.h"
#include "io/hf_config.h"
#include "io/hf_tokenizer.h"
#include "io/safetensors_file.h"
#include "io/safetensors_index.h"
#include "io/safetensors_names.h"
#include "model/model.h"

namespace lrkv {

namespace {
namespace fs = std::filesystem;

// Puts every tensor in its weight slot (shape-checked against config.json) or extra_tensors.
Status assign_tensors(SafetensorsWeights& st, const std::string& config_path, Model* m) {
  std::map<std::string, WeightSlot> slots;
  for_each_weight(m->config, m->weights, [&](const WeightSlot& s) { slots.emplace(s.name, s); });
  for (auto& [hf, entry] : st.tensors) {
    if (is_ignored_hf_tensor(hf)) continue;
    const std::string canonical = hf_to_canonical_name(hf);
    if (canonical == "output.weight" && m->config.tied_embeddings) {
      log_debug("{}: ignoring {} (tie_word_embeddings)", entry.file, hf);
      continue;
    }
    auto slot = slots.find(canonical);
    if (slot == slots.end()) {
      m->extra_tensors[hf] = entry.tensor;
      continue;
    }
    if (entry.tensor.shape() != slot->second.shape) {
      return make_error(ErrorCode::kShapeMismatch,
                        "{}: tensor '{}' has shape {}, but {} implies {}", entry.file, hf,
                        entry.tensor.shape_str(), config_path, shape_to_string(slot->second.shape));
    }
    *slot->second.tensor = entry.tensor;
    slot->second.tensor->set_name(canonical);
  }
  for (const auto& [canonical, slot] : slots) {
    if (slot.tensor->empty()) {
      return make_error(ErrorCode::kNotFound, "{}: missing tensor '{}' (expected shape {} from {})",
                        st.source, canonical_to_hf_name(canonical), shape_to_string(slot.shape),
                        config_path);
    }
  }
  return Status::Ok();
}

// tokenizer.json (or options.tokenizer_path) -> tokenizer; bos/eos reconciled with config.json.
Status load_tokenizer(const std::string& dir, const LoadOptions& options, const HfConfig& hf,
                      Model* m) {
  std::string path = options.tokenizer_path;
  if (path.empty()) {
    path = (fs::path(dir) / "tokenizer.json").string();
    if (!fs::exists(path)) {
      log_warn("{}: no tokenizer.json next to the weights; the model has no tokenizer", dir);
      return Status::Ok();
    }
  }
  LRKV_ASSIGN_OR_RETURN(const std::string text, read_text_file(path, kMaxTokenizerJsonBytes));
  LRKV_ASSIGN_OR_RETURN(Vocab vocab, parse_hf_tokenizer(text, path));
  const int n = m->config.n_vocab;
  if (static_cast<int>(vocab.tokens.size()) > n) {
    return make_error(ErrorCode::kCorruptFile, "{}: {} tokens, but vocab_size in config.json is {}",
                      path, vocab.tokens.size(), n);
  }
  for (int i = static_cast<int>(vocab.tokens.size()); i < n; ++i) {  // padded embedding rows
    vocab.tokens.push_back(fmt::format("<unused_{}>", i));
    vocab.types.push_back(TokenType::kUnused);
    if (!vocab.scores.empty()) vocab.scores.push_back(0.0f);
  }
  LlamaConfig& c = m->config;
  if (hf.has_bos)
    vocab.bos_id = c.bos_id;
  else if (vocab.bos_id >= 0)
    c.bos_id = vocab.bos_id;
  if (hf.has_eos)
    vocab.eos_id = c.eos_id;
  else if (vocab.eos_id >= 0)
    c.eos_id = vocab.eos_id;
  auto tok = make_tokenizer(std::move(vocab));
  if (!tok.ok()) return Status(tok.status()).with_context(path);
  m->tokenizer = std::move(tok).value();
  return Status::Ok();
}
// tokenizer_config.json beside the weights: its "chat_template" (a Jinja string, or HF's list of
// {"name", "template"} with the one named "default") becomes the model's
// tokenizer.chat_template metadata, as GGUF files carry it. No file or no key: nothing.
Status load_chat_template(const std::string& dir, Model* m) {
  const std::string path = (fs::path(dir) / "tokenizer_config.json").string();
  if (!fs::exists(path)) return Status::Ok();
  LRKV_ASSIGN_OR_RETURN(const std::string text, read_text_file(path, kMaxConfigJsonBytes));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(ErrorCode::kCorruptFile, "{}: not a JSON object", path);
  }
  const auto it = j.find("chat_template");
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (it->is_string()) {
    m->extra_metadata["tokenizer.chat_template"] = it->get<std::string>();
    return Status::Ok();
  }
  if (it->is_array()) {
    for (const nlohmann::json& t : *it) {
      if (t.is_object() && t.value("name", nlohmann::json()) == "default" && t.contains("template") &&
          t["template"].is_string()) {
        m->extra_metadata["tokenizer.chat_template"] = t["template"].get<std::string>();
        return Status::Ok();
      }
    }
    return make_error(ErrorCode::kCorruptFile, "{}: chat_template is a list without a {{\"name\": \"default\", "
                      "\"template\": STRING}} entry", path);
  }
  return make_error(ErrorCode::kCorruptFile, "{}: chat_template must be a string or a list of named templates, "
                    "not {}", path, it->type_name());
}

}  // namespace

Result<Model> load_safetensors(const std::string& path, const LoadOptions& options) {
  LRKV_ASSIGN_OR_RETURN(SafetensorsWeights st, read_safetensors_weights(path));
  const std::string config_path = (fs::path(st.dir) / "config.json").string();
  if (!fs::exists(config_path)) {
    return make_error(ErrorCode::kNotFound,
                      "{}: missing (HF safetensors weights need config.json "
                      "beside them)",
                      config_path);
  }
  LRKV_ASSIGN_OR_RETURN(const std::string config_text, read_text_file(config_path, kMaxConfigJsonBytes));
  LRKV_ASSIGN_OR_RETURN(const HfConfig hf, parse_hf_config(config_text, config_path));
  Model m;
  m.config = hf.config;
  m.config.tied_embeddings = hf.config.tied_embeddings || !st.tensors.count("lm_head.weight");
  if (m.config.name.empty()) m.config.name = fs::path(st.dir).filename().string();
  m.source_path = path;
  m.source_format = ModelFormat::kSafetensors;
  LRKV_RETURN_IF_ERROR(assign_tensors(st, config_path, &m));
  LRKV_RETURN_IF_ERROR(convert_weights(m.config, m.weights, options.matrix_dtype, options.keep_16bit_matrices));
  for (auto& [key, value] : st.metadata) {
    if (key != "format") m.extra_metadata[key] = value;
  }
  LRKV_RETURN_IF_ERROR(load_tokenizer(st.dir, options, hf, &m));
  LRKV_RETURN_IF_ERROR(load_chat_template(st.dir, &m));
  LRKV_RETURN_IF_ERROR(m.config.validate(config_path));
  LRKV_RETURN_IF_ERROR(read_compression_metadata(m));
  return m;
}

namespace {
// A bias vector [n] permuted like the rows of its matrix.
Tensor permute_rope_bias(const Tensor& b, int n_heads, int head_dim) {
  return permute_rope_rows(b.reshaped({b.dim(0), 1}), n_heads, head_dim, true).reshaped(b.shape());
}

// HF-named entries for every weight of `w` (a copy of the model's, sharing storage, for the
// non-const visitor; it must outlive the entries) and extra tensor. Permuted q/k copies live in
// `keep` (a deque: stable addresses).
Status collect_entries(const Model& model, LlamaWeights* w, std::deque<Tensor>* keep,
                       std::vector<SafetensorsEntry>* entries) {
  const LlamaConfig& c = model.config;
  Status status;
  for_each_weight(c, *w, [&](const WeightSlot& s) {
    if (!status.ok()) return;
    if (s.tensor->empty() || s.tensor->shape() != s.shape) {
      status = make_error(ErrorCode::kInvalidArgument, "model tensor '{}' is {} (expected {})",
                          s.name, s.tensor->empty() ? "missing" : s.tensor->shape_str(),
                          shape_to_string(s.shape));
      return;
    }
    const Tensor* t = s.tensor;
    if (c.rope_layout == RopeLayout::kInterleaved) {
      const bool is_q = s.name.find(".attn_q.") != std::string::npos;
      const bool is_k = s.name.find(".attn_k.") != std::string::npos;
      const int heads = is_q ? c.n_head : c.n_kv_head;
      if (is_q || is_k) {
        keep->push_back(t->ndim() == 2 ? permute_rope_rows(*t, heads, c.head_dim, true)
                                       : permute_rope_bias(*t, heads, c.head_dim));
        t = &keep->back();
      }
    }
    entries->push_back({canonical_to_hf_name(s.name), t});
  });
  LRKV_RETURN_IF_ERROR(status);
  for (const auto& [name, t] : model.extra_tensors) entries->push_back({name, &t});
  return Status::Ok();
}
}  // namespace

Status save_safetensors(const Model& model, const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  LlamaConfig cfg = model.config;
  cfg.rope_layout = RopeLayout::kHalfSplit;  // the q/k rows are permuted below if needed
  LlamaWeights w = model.weights;            // tensors share storage
  const DType dtype = w.layers.empty() ? w.tok_embd.dtype() : w.layers[0].wq.dtype();
  auto config_text = hf_config_json(cfg, dtype);
  if (!config_text.ok()) return Status(config_text.status()).with_context(path);
  std::string tokenizer_text;
  if (model.tokenizer != nullptr) {
    auto t = hf_tokenizer_json(model.tokenizer->vocab());
    if (!t.ok()) return Status(t.status()).with_context(path);
    tokenizer_text = std::move(t).value();
  }
  std::deque<Tensor> keep;
  std::vector<SafetensorsEntry> entries;
  LRKV_RETURN_IF_ERROR(collect_entries(model, &w, &keep, &entries));
  std::map<std::string, std::string> metadata = model.extra_metadata;
  metadata.merge(compression_metadata(model));
  metadata["format"] = "pt";
  LRKV_RETURN_IF_ERROR(write_safetensors(path, entries, metadata));
  LRKV_RETURN_IF_ERROR(write_file_atomic((dir / "config.json").string(), config_text.value()));
  if (!tokenizer_text.empty()) {
    LRKV_RETURN_IF_ERROR(write_file_atomic((dir / "tokenizer.json").string(), tokenizer_text));
  }
  return Status::Ok();
}

}  // namespace lrkv
