#include "io/hf_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/log.h"

namespace lrkv {

namespace {
using json = nlohmann::json;

// Typed access to config.json keys; every error names the file and the key.
class Keys {
 public:
  Keys(const json& j, const std::string& source) : j_(j), source_(source) {}

  Status missing(const std::string& key) const {
    return make_error(ErrorCode::kCorruptFile, "{}: missing required key '{}'", source_, key);
  }
  Status wrong(const std::string& key, const char* want) const {
    return make_error(ErrorCode::kCorruptFile, "{}: key '{}' must be {}, got {:.60}", source_, key,
                      want, j_.at(key).dump());
  }
  bool has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  const json& get(const std::string& key) const { return j_.at(key); }
  // Reads an int; absent keys keep *out unless required.
  Status get_int(const std::string& key, int* out, bool required) const {
    if (!has(key)) return required ? missing(key) : Status::Ok();
    const json& v = j_.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < std::numeric_limits<int>::min() ||
        v.get<int64_t>() > std::numeric_limits<int>::max()) {
      return wrong(key, "an integer");
    }
    *out = v.get<int>();
    return Status::Ok();
  }
  Status get_float(const std::string& key, float* out) const {
    if (!has(key)) return Status::Ok();
    if (!j_.at(key).is_number()) return wrong(key, "a number");
    *out = j_.at(key).get<float>();
    return Status::Ok();
  }
  Status get_bool(const std::string& key, bool* out) const {
    if (!has(key)) return Status::Ok();
    if (!j_.at(key).is_boolean()) return wrong(key, "true or false");
    *out = j_.at(key).get<bool>();
    return Status::Ok();
  }
  Status get_string(const std::string& key, std::string* out) const {
    if (!has(key)) return Status::Ok();
    if (!j_.at(key).is_string()) return wrong(key, "a string");
    *out = j_.at(key).get<std::string>();
    return Status::Ok();
  }
  // bos_token_id / eos_token_id: an int or a list of ints (the first is used).
  Status get_token_id(const std::string& key, int* out, bool* found) const {
    if (!has(key)) return Status::Ok();
    const json& v = j_.at(key);
    const json& first = v.is_array() && !v.empty() ? v.front() : v;
    if (!first.is_number_integer()) return wrong(key, "an integer or a list of integers");
    *out = first.get<int>();
    *found = true;
    return Status::Ok();
  }

 private:
  const json& j_;
  const std::string& source_;
};

Result<std::string> model_type_of(const json& j, const Keys& k) {
  std::string type;
  LRKV_RETURN_IF_ERROR(k.get_string("model_type", &type));
  if (type.empty() && j.contains("architectures") && j["architectures"].is_array() &&
      !j["architectures"].empty() && j["architectures"][0].is_string()) {
    const std::string a = j["architectures"][0];
    type = a == "LlamaForCausalLM"     ? "llama"
           : a == "MistralForCausalLM" ? "mistral"
           : a == "Qwen2ForCausalLM"   ? "qwen2"
                                       : a;
  }
  if (type.empty()) return k.missing("model_type");
  return type;
}

Status parse_rope_scaling(const json& rs, const std::string& source, RopeScaling* out) {
  if (rs.is_null()) return Status::Ok();
  if (!rs.is_object()) {
    return make_error(ErrorCode::kCorruptFile, "{}: 'rope_scaling' must be an object", source);
  }
  const Keys k(rs, source);
  std::string type;
  LRKV_RETURN_IF_ERROR(k.get_string("rope_type", &type));
  if (type.empty()) LRKV_RETURN_IF_ERROR(k.get_string("type", &type));
  if (type == "default" || type.empty()) return Status::Ok();
  if (type != "llama3") {
    return make_error(ErrorCode::kUnsupported,
                      "{}: rope_scaling type '{}' is not supported (only "
                      "'llama3')",
                      source, type);
  }
  out->llama3 = true;
  if (!k.has("factor")) return k.missing("rope_scaling.factor");
  LRKV_RETURN_IF_ERROR(k.get_float("factor", &out->factor));
  LRKV_RETURN_IF_ERROR(k.get_float("low_freq_factor", &out->low_freq_factor));
  LRKV_RETURN_IF_ERROR(k.get_float("high_freq_factor", &out->high_freq_factor));
  LRKV_RETURN_IF_ERROR(
      k.get_int("original_max_position_embeddings", &out->original_max_position, false));
  if (!(out->factor > 0) || !(out->high_freq_factor > out->low_freq_factor) ||
      out->original_max_position <= 0) {
    return make_error(ErrorCode::kCorruptFile, "{}: inconsistent llama3 rope_scaling values",
                      source);
  }
  return Status::Ok();
}

// Architecture switches: biases and activations lrkv's Llama forward pass does not have.
Status check_architecture(const std::string& type, const Keys& k, const std::string& source,
                          LlamaConfig* c) {
  if (type != "llama" && type != "mistral" && type != "qwen2") {
    return make_error(ErrorCode::kUnsupported,
                      "{}: model_type '{}' is not supported (llama, "
                      "mistral, qwen2)",
                      source, type);
  }
  c->arch = type == "qwen2" ? "qwen2" : "llama";
  c->qkv_bias = type == "qwen2";
  std::string act = "silu";
  bool attention_bias = false, mlp_bias = false, use_sliding = type == "mistral";
  LRKV_RETURN_IF_ERROR(k.get_string("hidden_act", &act));
  LRKV_RETURN_IF_ERROR(k.get_bool("attention_bias", &attention_bias));
  LRKV_RETURN_IF_ERROR(k.get_bool("mlp_bias", &mlp_bias));
  LRKV_RETURN_IF_ERROR(k.get_bool("use_sliding_window", &use_sliding));
  if (act != "silu") {
    return make_error(ErrorCode::kUnsupported, "{}: hidden_act '{}' is not supported (silu)",
                      source, act);
  }
  if (attention_bias || mlp_bias) {
    return make_error(ErrorCode::kUnsupported, "{}: attention_bias/mlp_bias are not supported",
                      source);
  }
  int window = 0;
  LRKV_RETURN_IF_ERROR(k.get_int("sliding_window", &window, false));
  if (k.has("layer_types") && k.get("layer_types").is_array()) {  // transformers >= 5
    for (const json& t : k.get("layer_types")) use_sliding = use_sliding || t != "full_attention";
  }
  if (use_sliding && window > 0 && window < c->max_seq) {
    log_warn("{}: sliding_window {} < max_position_embeddings {} is ignored (full attention)",
             source, window, c->max_seq);
  }
  return Status::Ok();
}

DType parse_torch_dtype(const std::string& s) {
  if (s == "float16") return DType::kF16;
  if (s == "bfloat16") return DType::kBF16;
  return DType::kF32;
}
}  // namespace

namespace {
Result<HfConfig> parse_object(const json& j, const std::string& source) {
  if (!j.is_object()) return make_error(ErrorCode::kCorruptFile, "{}: not a JSON object", source);
  const Keys k(j, source);
  HfConfig h;
  LlamaConfig& c = h.config;
  c.rope_layout = RopeLayout::kHalfSplit;
  c.norm_eps = 1e-6f;  // transformers' LlamaConfig defaults
  c.max_seq = 2048;
  LRKV_RETURN_IF_ERROR(k.get_string("_name_or_path", &c.name));
  LRKV_RETURN_IF_ERROR(k.get_int("hidden_size", &c.d_model, true));
  LRKV_RETURN_IF_ERROR(k.get_int("intermediate_size", &c.d_ff, true));
  LRKV_RETURN_IF_ERROR(k.get_int("num_hidden_layers", &c.n_layer, true));
  LRKV_RETURN_IF_ERROR(k.get_int("num_attention_heads", &c.n_head, true));
  LRKV_RETURN_IF_ERROR(k.get_int("vocab_size", &c.n_vocab, true));
  c.n_kv_head = c.n_head;
  LRKV_RETURN_IF_ERROR(k.get_int("num_key_value_heads", &c.n_kv_head, false));
  c.head_dim = c.n_head > 0 ? c.d_model / c.n_head : 0;
  LRKV_RETURN_IF_ERROR(k.get_int("head_dim", &c.head_dim, false));
  LRKV_RETURN_IF_ERROR(k.get_int("max_position_embeddings", &c.max_seq, false));
  LRKV_RETURN_IF_ERROR(k.get_float("rms_norm_eps", &c.norm_eps));
  LRKV_RETURN_IF_ERROR(k.get_float("rope_theta", &c.rope_theta));
  LRKV_RETURN_IF_ERROR(k.get_bool("tie_word_embeddings", &c.tied_embeddings));
  LRKV_RETURN_IF_ERROR(k.get_token_id("bos_token_id", &c.bos_id, &h.has_bos));
  LRKV_RETURN_IF_ERROR(k.get_token_id("eos_token_id", &c.eos_id, &h.has_eos));
  std::string torch_dtype;
  LRKV_RETURN_IF_ERROR(k.get_string(k.has("torch_dtype") ? "torch_dtype" : "dtype", &torch_dtype));
  h.torch_dtype = parse_torch_dtype(torch_dtype);
  LRKV_ASSIGN_OR_RETURN(const std::string type, model_type_of(j, k));
  LRKV_RETURN_IF_ERROR(check_architecture(type, k, source, &c));
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    // transformers >= 5: {"rope_type", "rope_theta", scaling fields} in one object.
    LRKV_RETURN_IF_ERROR(Keys(j["rope_parameters"], source).get_float("rope_theta", &c.rope_theta));
    LRKV_RETURN_IF_ERROR(parse_rope_scaling(j["rope_parameters"], source, &c.rope_scaling));
  } else if (j.contains("rope_scaling")) {
    LRKV_RETURN_IF_ERROR(parse_rope_scaling(j["rope_scaling"], source, &c.rope_scaling));
  }
  LRKV_RETURN_IF_ERROR(c.validate(source));
  return h;
}
}  // namespace

Result<HfConfig> parse_hf_config(const std::string& text, const std::string& source) {
  try {
    return parse_object(json::parse(text), source);
  } catch (const json::exception& e) {  // bad JSON, or a value of an unexpected type
    return make_error(ErrorCode::kCorruptFile, "{}: bad JSON: {}", source, e.what());
  }
}

namespace {
// A float as the double with the same shortest decimal form (1e-5f -> 1e-05, not 9.99999974e-06).
double tidy(float f) { return std::stod(fmt::format("{}", f)); }

const char* torch_dtype_name(DType t) {
  return t == DType::kF16 ? "float16" : t == DType::kBF16 ? "bfloat16" : "float32";
}

// True when llama3 scaling `s` reproduces cfg.rope_freq_factors (relative 1e-3).
bool llama3_matches(const LlamaConfig& cfg, const RopeScaling& s) {
  LlamaConfig plain = cfg, scaled = cfg;
  plain.rope_freq_factors.clear();
  plain.rope_scaling = RopeScaling{};
  scaled.rope_freq_factors.clear();
  scaled.rope_scaling = s;
  const int half = cfg.head_dim / 2;
  std::vector<float> f0(half), f1(half);
  rope_inverse_frequencies(plain, f0.data());
  rope_inverse_frequencies(scaled, f1.data());
  for (int i = 0; i < half; ++i) {
    const double implied = static_cast<double>(f0[i]) / f1[i];
    if (std::fabs(implied - cfg.rope_freq_factors[i]) > 1e-3 * std::fabs(implied)) return false;
  }
  return true;
}

// The rope_scaling to write: cfg.rope_scaling, or llama3 parameters reproducing the per-pair
// frequency factors (GGUF rope_freqs): the config's own, then Llama 3.1's defaults.
Result<RopeScaling> rope_scaling_for(const LlamaConfig& cfg) {
  if (cfg.rope_freq_factors.empty()) return cfg.rope_scaling;
  const auto& ff = cfg.rope_freq_factors;
  if (std::all_of(ff.begin(), ff.end(), [](float f) { return f == 1.0f; })) return RopeScaling{};
  std::vector<RopeScaling> candidates;
  if (cfg.rope_scaling.llama3) candidates.push_back(cfg.rope_scaling);
  RopeScaling l31;
  l31.llama3 = true;
  l31.factor = *std::max_element(ff.begin(), ff.end());
  candidates.push_back(l31);
  for (const RopeScaling& s : candidates) {
    if (llama3_matches(cfg, s)) return s;
  }
  return make_error(ErrorCode::kUnsupported,
                    "config.json: the model's rope_freq_factors cannot be "
                    "expressed as llama3 rope_scaling; HF transformers has no equivalent");
}
}  // namespace

Result<std::string> hf_config_json(const LlamaConfig& cfg, DType dtype) {
  LRKV_ASSIGN_OR_RETURN(const RopeScaling rs, rope_scaling_for(cfg));
  const bool qwen2 = cfg.qkv_bias;  // HF Llama has no q/k/v-only biases; Qwen2 is exactly that
  nlohmann::ordered_json j;
  j["architectures"] = {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = qwen2 ? "qwen2" : "llama";
  if (!cfg.name.empty()) j["_name_or_path"] = cfg.name;
  j["hidden_size"] = cfg.d_model;
  j["intermediate_size"] = cfg.d_ff;
  j["num_hidden_layers"] = cfg.n_layer;
  j["num_attention_heads"] = cfg.n_head;
  j["num_key_value_heads"] = cfg.n_kv_head;
  j["head_dim"] = cfg.head_dim;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = cfg.max_seq;
  j["rms_norm_eps"] = tidy(cfg.norm_eps);
  j["rope_theta"] = tidy(cfg.rope_theta);
  j["vocab_size"] = cfg.n_vocab;
  j["tie_word_embeddings"] = cfg.tied_embeddings;
  j["bos_token_id"] = cfg.bos_id;
  j["eos_token_id"] = cfg.eos_id;
  if (!qwen2) j["attention_bias"] = false;
  if (!qwen2) j["mlp_bias"] = false;
  if (qwen2) j["use_sliding_window"] = false;
  if (rs.llama3) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", tidy(rs.factor)},
                         {"low_freq_factor", tidy(rs.low_freq_factor)},
                         {"high_freq_factor", tidy(rs.high_freq_factor)},
                         {"original_max_position_embeddings", rs.original_max_position}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["torch_dtype"] = torch_dtype_name(dtype);
  j["use_cache"] = true;
  return j.dump(2) + "\n";
}

}  // namespace lrkv
