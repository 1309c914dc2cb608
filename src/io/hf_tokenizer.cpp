#include "io/hf_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "core/log.h"
#include "model/bpe_pretokenizer.h"
#include "model/utf8.h"

namespace lrkv {

namespace {
using json = nlohmann::json;
using MergePairs = std::vector<std::pair<std::string, std::string>>;

const std::string kSpace = "\xE2\x96\x81";  // "▁"
constexpr int kMaxTokens = 1 << 24;
constexpr int64_t kMaxIdHoles = 1024;  // ids above 2 x the token count + this are refused
constexpr const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Status corrupt(const std::string& source, const std::string& what) {
  return make_error(ErrorCode::kCorruptFile, "{}: {}", source, what);
}

// Every object in the tree `j` whose "type" is `type` (pre-tokenizer/decoder sequences nest).
void find_typed(const json& j, std::string_view type, std::vector<const json*>* out) {
  if (j.is_object()) {
    auto t = j.find("type");
    if (t != j.end() && t->is_string() && t->get<std::string>() == type) out->push_back(&j);
  }
  if (j.is_structured()) {
    for (const json& child : j) find_typed(child, type, out);
  }
}

// j[key], or null when absent (a reference into j: find_typed results stay valid).
const json& child(const json& j, const char* key) {
  static const json kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

bool is_byte_piece(const std::string& p) {
  return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(p[3])) &&
         std::isxdigit(static_cast<unsigned char>(p[4]));
}

// Token strings by id from model.vocab and added_tokens; types from added_tokens (kNormal else).
Status read_tokens(const json& root, const json& model, const std::string& source, Vocab* v) {
  auto vm = model.find("vocab");
  if (vm == model.end() || !vm->is_object())
    return corrupt(source, "model.vocab is missing or not an object");
  std::vector<std::pair<int, std::string>> entries;
  for (auto it = vm->begin(); it != vm->end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() >= kMaxTokens) {
      return corrupt(source, fmt::format("model.vocab['{}'] is not a valid token id", it.key()));
    }
    entries.emplace_back(it->get<int>(), it.key());
  }
  std::vector<std::pair<int, bool>> added;  // id, special
  const json added_tokens = root.value("added_tokens", json::array());
  for (const json& a : added_tokens) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() >= kMaxTokens ||
        !a.contains("content") || !a["content"].is_string()) {
      return corrupt(source, "added_tokens entry without a valid 'id' and 'content'");
    }
    entries.emplace_back(a["id"].get<int>(), a["content"].get<std::string>());
    added.emplace_back(a["id"].get<int>(), a.value("special", false));
  }
  int n = 0;
  for (const auto& [id, tok] : entries) n = std::max(n, id + 1);
  // Ids are dense in real files; a few holes are filled with <unused_N>. A sparse id (one token
  // with id 16M) would otherwise allocate the whole range from a tiny file.
  const int64_t max_n = 2 * static_cast<int64_t>(entries.size()) + kMaxIdHoles;
  if (n > max_n) {
    return corrupt(source, fmt::format("token ids reach {} but only {} tokens are defined; expected "
                                       "dense ids (at most {})",
                                       n - 1, entries.size(), max_n));
  }
  std::vector<bool> present(n, false);
  v->tokens.assign(n, "");
  v->types.assign(n, TokenType::kNormal);
  for (const auto& [id, tok] : entries) {  // added_tokens come last and win
    v->tokens[id] = tok;
    present[id] = true;
  }
  for (const auto& [id, special] : added)
    v->types[id] = special ? TokenType::kControl : TokenType::kUserDefined;
  for (int i = 0; i < n; ++i) {
    if (!present[i]) {
      v->tokens[i] = fmt::format("<unused_{}>", i);
      v->types[i] = TokenType::kUnused;
    }
  }
  return Status::Ok();
}

Status read_merges(const json& model, const std::string& source, MergePairs* out) {
  const json merges = model.value("merges", json::array());
  if (!merges.is_array()) return corrupt(source, "model.merges is not an array");
  for (const json& m : merges) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos)
        return corrupt(source, fmt::format("merge '{}' is not 'left right'", s));
      out->emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out->emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return corrupt(source,
                     fmt::format("merge {} is not 'left right' or [left, right]", m.dump()));
    }
  }
  return Status::Ok();
}

// SentencePiece view of a byte-fallback BPE: scores from merge ranks, byte pieces, unk.
void fill_sentencepiece(const json& root, const json& model, const MergePairs& merges, Vocab* v) {
  v->kind = TokenizerKind::kSentencePiece;
  const int n = static_cast<int>(v->tokens.size());
  std::unordered_map<std::string, int> id_of;
  for (int i = 0; i < n; ++i) id_of.emplace(v->tokens[i], i);
  v->scores.assign(n, 0.0f);
  std::vector<bool> scored(n, false);
  for (size_t r = 0; r < merges.size(); ++r) {
    auto it = id_of.find(merges[r].first + merges[r].second);
    if (it != id_of.end() && !scored[it->second]) {
      v->scores[it->second] = -static_cast<float>(r);
      scored[it->second] = true;
    }
  }
  const float lowest = -static_cast<float>(merges.size() + 1);
  for (int i = 0; i < n; ++i) {
    if (v->types[i] == TokenType::kNormal && is_byte_piece(v->tokens[i]))
      v->types[i] = TokenType::kByte;
    if (v->types[i] == TokenType::kNormal && !scored[i]) v->scores[i] = lowest;
  }
  v->unk_id = -1;
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto it = id_of.find(model["unk_token"].get<std::string>());
    if (it != id_of.end()) {
      v->unk_id = it->second;
      v->types[it->second] = TokenType::kUnknown;
    }
  }
  // The "▁" prefix: a Prepend normaliser or a Metaspace pre-tokenizer that prepends.
  std::vector<const json*> found;
  find_typed(child(root, "normalizer"), "Prepend", &found);
  bool prefix = !found.empty();
  found.clear();
  find_typed(child(root, "pre_tokenizer"), "Metaspace", &found);
  for (const json* m : found) {
    prefix = prefix || m->value("add_prefix_space", false) ||
             m->value("prepend_scheme", "") == "always" ||
             m->value("prepend_scheme", "") == "first";
  }
  v->add_space_prefix = prefix;
}

// Byte-level BPE: merges as "a b", pre-tokenizer from the Split regex.
void fill_bpe(const json& root, const MergePairs& merges, const std::string& source, Vocab* v) {
  v->kind = TokenizerKind::kBpe;
  v->add_space_prefix = false;
  v->unk_id = -1;
  v->merges.reserve(merges.size());
  for (const auto& [a, b] : merges) v->merges.push_back(a + " " + b);
  std::vector<const json*> splits;
  find_typed(child(root, "pre_tokenizer"), "Split", &splits);
  v->pre = "gpt2";
  for (const json* s : splits) {
    const std::string re = s->contains("pattern") && (*s)["pattern"].is_object()
                               ? (*s)["pattern"].value("Regex", "")
                               : "";
    if (re.find(R"(\p{N}{1,3})") != std::string::npos) {
      v->pre = "llama3";
    } else if (re.find("(?i:'s") != std::string::npos) {
      v->pre = "qwen2";
    } else {
      log_warn("{}: unknown pre-tokenizer pattern; using GPT-2's: {}", source, re);
    }
  }
}

int find_token(const Vocab& v, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      if (v.tokens[i] == name && v.types[i] != TokenType::kNormal) return static_cast<int>(i);
    }
  }
  return -1;
}

// bos from the post-processor template (whether BOS is added at all), eos by well-known names.
void find_special_ids(const json& root, Vocab* v) {
  std::vector<const json*> tps;
  find_typed(child(root, "post_processor"), "TemplateProcessing", &tps);
  v->add_bos = false;
  v->bos_id = -1;
  for (const json* tp : tps) {
    const json single = tp->value("single", json::array());
    if (!single.is_array() || single.empty() || !single[0].contains("SpecialToken")) continue;
    const std::string name = single[0]["SpecialToken"].value("id", "");
    v->bos_id = find_token(*v, {name});
    v->add_bos = v->bos_id >= 0;
  }
  if (v->bos_id < 0) v->bos_id = find_token(*v, {"<s>", "<|begin_of_text|>", "<|endoftext|>"});
  v->eos_id =
      find_token(*v, {"</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>"});
}
}  // namespace

namespace {
Result<Vocab> parse_root(const json& root, const std::string& source) {
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
    return corrupt(source, "missing object 'model'");
  }
  const json& model = root["model"];
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") {
    return make_error(ErrorCode::kUnsupported,
                      "{}: tokenizer model type '{}' is not supported (BPE)", source, type);
  }
  Vocab v;
  LRKV_RETURN_IF_ERROR(read_tokens(root, model, source, &v));
  if (v.tokens.empty()) return corrupt(source, "empty vocabulary");
  MergePairs merges;
  LRKV_RETURN_IF_ERROR(read_merges(model, source, &merges));
  std::vector<const json*> byte_level;
  find_typed(child(root, "pre_tokenizer"), "ByteLevel", &byte_level);
  find_typed(child(root, "decoder"), "ByteLevel", &byte_level);
  if (model.value("byte_fallback", false)) {
    fill_sentencepiece(root, model, merges, &v);
  } else if (!byte_level.empty()) {
    fill_bpe(root, merges, source, &v);
  } else {
    return make_error(ErrorCode::kUnsupported,
                      "{}: BPE tokenizer is neither byte-level nor "
                      "byte-fallback (SentencePiece-style)",
                      source);
  }
  find_special_ids(root, &v);
  if (v.kind == TokenizerKind::kSentencePiece) v.add_bos = v.add_bos || v.bos_id >= 0;
  return v;
}
}  // namespace

Result<Vocab> parse_hf_tokenizer(const std::string& text, const std::string& source) {
  try {
    return parse_root(json::parse(text), source);
  } catch (const json::exception& e) {  // bad JSON, or a value of the wrong type
    return corrupt(source, std::string("bad JSON: ") + e.what());
  }
}

namespace {
TokenType type_of(const Vocab& v, size_t i) {
  return i < v.types.size() ? v.types[i] : TokenType::kNormal;
}

bool is_added(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined;
}

// A SentencePiece piece that merges may produce or consume (not control, byte or unused).
bool mergeable(const Vocab& v, size_t i) {
  const TokenType t = type_of(v, i);
  return (t == TokenType::kNormal || t == TokenType::kUserDefined) && !is_byte_piece(v.tokens[i]);
}

// Merges reproducing SentencePiece's score order: pieces by decreasing score (ties: lower id),
// each with all its splits into two mergeable pieces.
MergePairs merges_from_scores(const Vocab& v) {
  std::unordered_map<std::string, int> id_of;
  std::vector<int> order;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (!mergeable(v, i)) continue;
    id_of.emplace(v.tokens[i], static_cast<int>(i));
    if (v.tokens[i].size() > utf8_char_len(static_cast<uint8_t>(v.tokens[i][0])))
      order.push_back(i);
  }
  auto score = [&](int i) { return v.scores.empty() ? -static_cast<float>(i) : v.scores[i]; };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score(a) > score(b); });
  MergePairs out;
  for (int id : order) {
    const std::string& p = v.tokens[id];
    for (size_t k = utf8_char_len(static_cast<uint8_t>(p[0])); k < p.size();
         k += utf8_char_len(static_cast<uint8_t>(p[k]))) {
      std::string a = p.substr(0, k), b = p.substr(k);
      if (id_of.count(a) && id_of.count(b)) out.emplace_back(std::move(a), std::move(b));
    }
  }
  return out;
}

json merges_json(const MergePairs& merges) {
  const bool arrays = std::any_of(merges.begin(), merges.end(), [](const auto& m) {
    return m.first.find(' ') != std::string::npos || m.second.find(' ') != std::string::npos;
  });
  json out = json::array();
  for (const auto& [a, b] : merges) out.push_back(arrays ? json::array({a, b}) : json(a + " " + b));
  return out;
}

json added_tokens_json(const Vocab& v) {
  json out = json::array();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const TokenType t = type_of(v, i);
    if (!is_added(t)) continue;
    out.push_back({{"id", i},
                   {"content", v.tokens[i]},
                   {"single_word", false},
                   {"lstrip", false},
                   {"rstrip", false},
                   {"normalized", false},
                   {"special", t != TokenType::kUserDefined}});
  }
  return out;
}

json template_processing(const Vocab& v) {
  if (!v.add_bos || v.bos_id < 0) return nullptr;
  const std::string& bos = v.tokens[v.bos_id];
  auto special = [&](int type_id) {
    return json{{"SpecialToken", {{"id", bos}, {"type_id", type_id}}}};
  };
  auto seq = [](const char* id, int type_id) {
    return json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };
  return {{"type", "TemplateProcessing"},
          {"single", {special(0), seq("A", 0)}},
          {"pair", {special(0), seq("A", 0), special(1), seq("B", 1)}},
          {"special_tokens", {{bos, {{"id", bos}, {"ids", {v.bos_id}}, {"tokens", {bos}}}}}}};
}

json byte_level(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", add_prefix_space},
          {"trim_offsets", trim_offsets},
          {"use_regex", use_regex}};
}

// The vocab map; tokens listed in added_tokens are left out for BPE (HF keeps them apart).
Result<json> vocab_json(const Vocab& v, bool include_added) {
  json out = json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (!include_added && is_added(type_of(v, i))) continue;
    if (out.contains(v.tokens[i])) {
      return make_error(ErrorCode::kUnsupported,
                        "tokenizer.json: tokens {} and {} share the piece "
                        "'{}'; tokenizer.json cannot represent that",
                        out[v.tokens[i]].get<int>(), i, v.tokens[i]);
    }
    out[v.tokens[i]] = i;
  }
  return out;
}

json model_json(json vocab, json merges, bool byte_fallback, json unk, bool ignore_merges) {
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", std::move(unk)},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", byte_fallback},
          {"byte_fallback", byte_fallback},
          {"ignore_merges", ignore_merges},
          {"vocab", std::move(vocab)},
          {"merges", std::move(merges)}};
}

// Llama-2 layout: Prepend + Replace normaliser, byte-fallback BPE, Replace/ByteFallback/Fuse/Strip.
Status sentencepiece_json(const Vocab& v, json* root) {
  LRKV_ASSIGN_OR_RETURN(json vocab, vocab_json(v, true));
  const json unk = v.unk_id >= 0 ? json(v.tokens[v.unk_id]) : json(nullptr);
  (*root)["model"] =
      model_json(std::move(vocab), merges_json(merges_from_scores(v)), true, unk, false);
  const json replace_space = {
      {"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}};
  json norms = json::array();
  if (v.add_space_prefix) norms.push_back({{"type", "Prepend"}, {"prepend", kSpace}});
  norms.push_back(replace_space);
  (*root)["normalizer"] = {{"type", "Sequence"}, {"normalizers", norms}};
  (*root)["pre_tokenizer"] = nullptr;
  json decoders = {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                   {{"type", "ByteFallback"}},
                   {{"type", "Fuse"}}};
  if (v.add_space_prefix)
    decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  (*root)["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
  return Status::Ok();
}

// Llama-3 / Qwen2 / GPT-2 layout: Split regex + ByteLevel pre-tokenizer, ByteLevel decoder.
Status bpe_json(const Vocab& v, json* root) {
  LRKV_ASSIGN_OR_RETURN(json vocab, vocab_json(v, false));
  json merges = json::array();
  for (const std::string& m : v.merges) merges.push_back(m);
  const PreTokenizer pre = pretokenizer_from_name(v.pre);
  (*root)["model"] =
      model_json(std::move(vocab), std::move(merges), false, nullptr, pre == PreTokenizer::kLlama3);
  (*root)["normalizer"] = nullptr;
  if (pre == PreTokenizer::kGpt2) {
    (*root)["pre_tokenizer"] = byte_level(false, true, true);
  } else {
    const json split = {
        {"type", "Split"},
        {"pattern", {{"Regex", pre == PreTokenizer::kLlama3 ? kLlama3Regex : kQwen2Regex}}},
        {"behavior", "Isolated"},
        {"invert", false}};
    (*root)["pre_tokenizer"] = {{"type", "Sequence"},
                                {"pretokenizers", {split, byte_level(false, true, false)}}};
  }
  (*root)["decoder"] = byte_level(true, true, true);
  return Status::Ok();
}
}  // namespace

Result<std::string> hf_tokenizer_json(const Vocab& vocab) {
  json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = added_tokens_json(vocab);
  if (vocab.kind == TokenizerKind::kSentencePiece) {
    LRKV_RETURN_IF_ERROR(sentencepiece_json(vocab, &root));
  } else {
    LRKV_RETURN_IF_ERROR(bpe_json(vocab, &root));
  }
  root["post_processor"] = template_processing(vocab);
  try {
    return root.dump(1) + "\n";
  } catch (const json::exception& e) {  // invalid UTF-8 in a piece
    return make_error(ErrorCode::kUnsupported, "tokenizer.json: {}", e.what());
  }
}

}  // namespace lrkv
