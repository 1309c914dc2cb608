// tokenizer.json reading (Llama-2 byte-fallback style, Llama-3 byte-level style) and writing.
#include "io/hf_tokenizer.h"

#include <gtest/gtest.h>

#include "model/bpe_tokenizer.h"
#include "model/synth.h"

namespace lrkv {
namespace {

// A miniature Llama-2 tokenizer.json: merge ranks give ▁t (0) > he (1) > ▁the (2) > ▁th (3).
const char* kLlama2Style = R"({
  "added_tokens": [{"id": 0, "content": "<unk>", "special": true},
                   {"id": 1, "content": "<s>", "special": true},
                   {"id": 2, "content": "</s>", "special": true}],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                 {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing",
                     "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                {"Sequence": {"id": "A", "type_id": 0}}]},
  "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
            "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0xC3>": 4, "<0xA9>": 5,
                      "▁": 6, "t": 7, "h": 8, "e": 9, "▁t": 10, "he": 11, "▁the": 12, "▁th": 13},
            "merges": ["▁ t", "h e", "▁t he", "▁t h"]}})";

TEST(HfTokenizer, ReadsLlama2StyleAsSentencePiece) {
  auto v = parse_hf_tokenizer(kLlama2Style, "t/tokenizer.json");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->kind, TokenizerKind::kSentencePiece);
  ASSERT_EQ(v->tokens.size(), 14u);
  EXPECT_EQ(v->types[0], TokenType::kUnknown);
  EXPECT_EQ(v->types[1], TokenType::kControl);
  EXPECT_EQ(v->types[4], TokenType::kByte);
  EXPECT_EQ(v->types[12], TokenType::kNormal);
  EXPECT_GT(v->scores[10], v->scores[11]);  // rank order
  EXPECT_GT(v->scores[12], v->scores[13]);
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_EQ(v->eos_id, 2);
  EXPECT_EQ(v->unk_id, 0);
  EXPECT_TRUE(v->add_space_prefix);
  auto t = make_tokenizer(std::move(v).value());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->encode("the", true), (std::vector<int>{1, 12}));
  EXPECT_EQ((*t)->encode("\xC3\xA9\n", false), (std::vector<int>{6, 4, 5, 3}));  // byte fallback
  EXPECT_EQ((*t)->decode({12, 10}), "the t");
}

const char* kLlama3Style = R"({
  "added_tokens": [{"id": 5, "content": "<|begin_of_text|>", "special": true},
                   {"id": 6, "content": "<|end_of_text|>", "special": true}],
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
  "post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"},
      {"type": "TemplateProcessing", "single": [
          {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
          {"Sequence": {"id": "A", "type_id": 0}}]}]},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "ignore_merges": true,
            "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4},
            "merges": [["a", "b"], "Ġ ab"]}})";

TEST(HfTokenizer, ReadsLlama3StyleAsByteLevelBpe) {
  auto v = parse_hf_tokenizer(kLlama3Style, "t/tokenizer.json");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->kind, TokenizerKind::kBpe);
  EXPECT_EQ(v->pre, "llama3");
  EXPECT_EQ(v->merges, (std::vector<std::string>{"a b", "Ġ ab"}));
  EXPECT_EQ(v->types[5], TokenType::kControl);
  EXPECT_EQ(v->bos_id, 5);
  EXPECT_EQ(v->eos_id, 6);
  EXPECT_TRUE(v->add_bos);
  auto t = make_tokenizer(std::move(v).value());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->encode("ab ab", true), (std::vector<int>{5, 2, 4}));
  EXPECT_EQ((*t)->decode({2, 4, 6}), "ab ab");
}

TEST(HfTokenizer, SentencePieceVocabRoundTripsWithSameIds) {
  Vocab orig = make_synthetic_vocab(700);
  auto text = hf_tokenizer_json(orig);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  auto back = parse_hf_tokenizer(*text, "rt/tokenizer.json");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->tokens, orig.tokens);
  EXPECT_EQ(back->types, orig.types);
  EXPECT_EQ(back->bos_id, orig.bos_id);
  EXPECT_EQ(back->eos_id, orig.eos_id);
  auto a = make_tokenizer(orig), b = make_tokenizer(std::move(back).value());
  ASSERT_TRUE(a.ok() && b.ok());
  for (const char* s : {"the quick brown fox jumps over the lazy dog", "  two  spaces",
                        "Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\n\nnew lines 123", "zzz qqq xj"}) {
    EXPECT_EQ((*a)->encode(s, true), (*b)->encode(s, true)) << s;
  }
}

TEST(HfTokenizer, ByteLevelVocabRoundTrips) {
  auto v = parse_hf_tokenizer(kLlama3Style, "t/tokenizer.json");
  ASSERT_TRUE(v.ok());
  auto text = hf_tokenizer_json(*v);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  auto back = parse_hf_tokenizer(*text, "rt/tokenizer.json");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->tokens, v->tokens);
  EXPECT_EQ(back->types, v->types);
  EXPECT_EQ(back->merges, v->merges);
  EXPECT_EQ(back->pre, v->pre);
  EXPECT_EQ(back->bos_id, v->bos_id);
  EXPECT_EQ(back->add_bos, v->add_bos);
}

TEST(HfTokenizer, Errors) {
  Vocab dup = make_synthetic_vocab(300);
  dup.tokens[299] = dup.tokens[298];
  EXPECT_EQ(hf_tokenizer_json(dup).status().code(), ErrorCode::kUnsupported);
  auto uni =
      parse_hf_tokenizer(R"({"model": {"type": "Unigram", "vocab": []}})", "u/tokenizer.json");
  EXPECT_EQ(uni.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(uni.status().message().find("u/tokenizer.json"), std::string::npos);
  EXPECT_EQ(parse_hf_tokenizer("{", "x.json").status().code(), ErrorCode::kCorruptFile);
  auto bad_id = parse_hf_tokenizer(R"({"model": {"type": "BPE", "vocab": {"a": -1}}})", "x.json");
  EXPECT_EQ(bad_id.status().code(), ErrorCode::kCorruptFile);
  auto plain = parse_hf_tokenizer(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "x.json");
  EXPECT_EQ(plain.status().code(), ErrorCode::kUnsupported);  // neither byte-level nor fallback
}

}  // namespace
}  // namespace lrkv
