#include "io/gguf_vocab.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/log.h"

namespace lrkv {

namespace {

// A numeric array `key` of length n (or absent: out stays empty).
Status read_numbers(const GgufFile& f, const std::string& key, uint64_t n,
                    std::vector<double>* out) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return Status::Ok();
  const bool numeric = v->is_array() && v->elem != GgufType::kString &&
                       v->elem != GgufType::kArray && v->elem != GgufType::kBool;
  if (!numeric || v->size() != n) {
    return make_error(ErrorCode::kCorruptFile,
                      "{}: metadata '{}' should be a numeric array of {} entries (one per token), "
                      "found {} of {} with {} entries",
                      f.path(), key, n, gguf_type_name(v->type), gguf_type_name(v->elem),
                      v->size());
  }
  out->resize(n);
  for (uint64_t k = 0; k < n; ++k) (*out)[k] = v->at(k).as_double();
  return Status::Ok();
}

// A string array `key` (absent: out stays empty).
Status read_strings(const GgufFile& f, const std::string& key, std::vector<std::string>* out) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_array() || v->elem != GgufType::kString) {
    return make_error(ErrorCode::kCorruptFile, "{}: metadata '{}' should be an array of strings",
                      f.path(), key);
  }
  *out = v->strs;
  return Status::Ok();
}

}  // namespace

Status read_gguf_token_id(const GgufFile& f, const std::string& key, int* id) {
  int64_t v = *id;
  LRKV_RETURN_IF_ERROR(f.get_int(key, &v, /*required=*/false));
  *id = v < 0 || v > INT32_MAX ? -1 : static_cast<int>(v);
  return Status::Ok();
}

Result<bool> read_gguf_vocab(const GgufFile& f, Vocab* vocab) {
  std::string model;
  LRKV_RETURN_IF_ERROR(f.get_string("tokenizer.ggml.model", &model, /*required=*/false));
  if (model.empty() || f.find("tokenizer.ggml.tokens") == nullptr) return false;
  Vocab v;
  if (model == "gpt2") {
    v.kind = TokenizerKind::kBpe;  // llama.cpp's BPE defaults: no space prefix, no UNK
    v.add_space_prefix = false;
    v.unk_id = -1;
  } else if (model != "llama") {
    log_warn("{}: tokenizer model '{}' is not supported; loading without a tokenizer", f.path(),
             model);
    return false;
  }
  LRKV_RETURN_IF_ERROR(read_strings(f, "tokenizer.ggml.tokens", &v.tokens));
  const uint64_t n = v.tokens.size();
  std::vector<double> scores, types;
  LRKV_RETURN_IF_ERROR(read_numbers(f, "tokenizer.ggml.scores", n, &scores));
  LRKV_RETURN_IF_ERROR(read_numbers(f, "tokenizer.ggml.token_type", n, &types));
  for (size_t i = 0; i < scores.size(); ++i) {  // finite floats: merge priorities are compared
    if (!(std::fabs(scores[i]) <= std::numeric_limits<float>::max())) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: metadata 'tokenizer.ggml.scores' entry {} is {}, expected a finite "
                        "score",
                        f.path(), i, scores[i]);
    }
    v.scores.push_back(static_cast<float>(scores[i]));
  }
  for (size_t i = 0; i < types.size(); ++i) {  // llama.cpp token types are small integers
    const double t = types[i];
    if (!(t >= 0 && t <= 255) || t != std::floor(t)) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: metadata 'tokenizer.ggml.token_type' entry {} is {}, expected a "
                        "token type 0..255 (1 normal .. 6 byte)",
                        f.path(), i, t);
    }
    v.types.push_back(static_cast<TokenType>(static_cast<int32_t>(t)));
  }
  LRKV_RETURN_IF_ERROR(read_strings(f, "tokenizer.ggml.merges", &v.merges));
  LRKV_RETURN_IF_ERROR(f.get_string("tokenizer.ggml.pre", &v.pre, false));
  LRKV_RETURN_IF_ERROR(read_gguf_token_id(f, "tokenizer.ggml.bos_token_id", &v.bos_id));
  LRKV_RETURN_IF_ERROR(read_gguf_token_id(f, "tokenizer.ggml.eos_token_id", &v.eos_id));
  LRKV_RETURN_IF_ERROR(read_gguf_token_id(f, "tokenizer.ggml.unknown_token_id", &v.unk_id));
  LRKV_RETURN_IF_ERROR(read_gguf_token_id(f, "tokenizer.ggml.padding_token_id", &v.pad_id));
  LRKV_RETURN_IF_ERROR(f.get_bool("tokenizer.ggml.add_bos_token", &v.add_bos, false));
  LRKV_RETURN_IF_ERROR(f.get_bool("tokenizer.ggml.add_space_prefix", &v.add_space_prefix, false));
  *vocab = std::move(v);
  return true;
}

void write_gguf_vocab(const Vocab& v, GgufWriter* w) {
  w->set("tokenizer.ggml.model", GgufValue::str(v.kind == TokenizerKind::kBpe ? "gpt2" : "llama"));
  if (!v.pre.empty()) w->set("tokenizer.ggml.pre", GgufValue::str(v.pre));
  w->set("tokenizer.ggml.tokens", GgufValue::str_array(v.tokens));
  if (!v.scores.empty()) w->set("tokenizer.ggml.scores", GgufValue::f32_array(v.scores));
  if (!v.types.empty()) {
    std::vector<int32_t> types;
    for (TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
    w->set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  }
  if (!v.merges.empty()) w->set("tokenizer.ggml.merges", GgufValue::str_array(v.merges));
  auto id = [&](const char* key, int value) {
    if (value >= 0) w->set(key, GgufValue::u32(static_cast<uint32_t>(value)));
  };
  id("tokenizer.ggml.bos_token_id", v.bos_id);
  id("tokenizer.ggml.eos_token_id", v.eos_id);
  id("tokenizer.ggml.unknown_token_id", v.unk_id);
  id("tokenizer.ggml.padding_token_id", v.pad_id);
  w->set("tokenizer.ggml.add_bos_token", GgufValue::boolean(v.add_bos));
  w->set("tokenizer.ggml.add_space_prefix", GgufValue::boolean(v.add_space_prefix));
}

}  // namespace lrkv
