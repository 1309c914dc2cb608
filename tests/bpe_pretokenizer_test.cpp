// The hand-written pre-tokenizers against splits of the original regexes (worked out by hand
// from the regex semantics: alternatives in order, greedy quantifiers, backtracking).
#include "model/bpe_pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lrkv {
namespace {

std::vector<std::string> split(const std::string& text, PreTokenizer kind) {
  std::vector<std::string> out;
  std::string joined;
  for (std::string_view w : pretokenize(text, kind)) {
    out.emplace_back(w);
    joined += w;
  }
  EXPECT_EQ(joined, text) << "pre-tokens must cover the text exactly";
  return out;
}

using V = std::vector<std::string>;

TEST(BpePretokenizer, Llama3WordsAndSpaces) {
  const auto k = PreTokenizer::kLlama3;
  EXPECT_EQ(split("Hello world", k), (V{"Hello", " world"}));
  EXPECT_EQ(split("a   b", k), (V{"a", "  ", " b"}));
  EXPECT_EQ(split("end   ", k), (V{"end", "   "}));
  EXPECT_EQ(split("(hello)", k), (V{"(hello", ")"}));
  EXPECT_EQ(split("hi!!\nyo", k), (V{"hi", "!!\n", "yo"}));
  EXPECT_EQ(split("a\n\nb", k), (V{"a", "\n\n", "b"}));
  EXPECT_EQ(split("x  \n  y", k), (V{"x", "  \n", " ", " y"}));
  EXPECT_EQ(split("\tx", k), (V{"\tx"}));
}

TEST(BpePretokenizer, Llama3ContractionsAreCaseInsensitive) {
  EXPECT_EQ(split("don't", PreTokenizer::kLlama3), (V{"don", "'t"}));
  EXPECT_EQ(split("DON'T we'll", PreTokenizer::kLlama3), (V{"DON", "'T", " we", "'ll"}));
  EXPECT_EQ(split("'hello", PreTokenizer::kLlama3), (V{"'hello"}));
  EXPECT_EQ(split("DON'T", PreTokenizer::kGpt2), (V{"DON", "'", "T"}));
  EXPECT_EQ(split("don't", PreTokenizer::kGpt2), (V{"don", "'t"}));
}

TEST(BpePretokenizer, Digits) {
  EXPECT_EQ(split("12345", PreTokenizer::kLlama3), (V{"123", "45"}));
  EXPECT_EQ(split("12345", PreTokenizer::kQwen2), (V{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(split("12345", PreTokenizer::kGpt2), (V{"12345"}));
  EXPECT_EQ(split("x 123", PreTokenizer::kLlama3), (V{"x", " ", "123"}));
  EXPECT_EQ(split("x 123", PreTokenizer::kGpt2), (V{"x", " 123"}));
}

TEST(BpePretokenizer, NonAscii) {
  const auto k = PreTokenizer::kLlama3;
  EXPECT_EQ(split("héllo wörld", k), (V{"héllo", " wörld"}));
  EXPECT_EQ(split("日本語のテキスト", k), (V{"日本語のテキスト"}));
  EXPECT_EQ(split("Привет, мир", k), (V{"Привет", ",", " мир"}));
  EXPECT_EQ(split("\xF0\x9F\x98\x80 ok", k), (V{"\xF0\x9F\x98\x80", " ok"}));
  EXPECT_EQ(split("a\xFF"
                  "b",
                  k),
            (V{"a",
               "\xFF"
               "b"}));  // invalid byte: punctuation-like
  EXPECT_TRUE(unicode_is_letter(U'é'));
  EXPECT_TRUE(unicode_is_letter(U'語'));
  EXPECT_TRUE(unicode_is_number(U'٣'));
  EXPECT_FALSE(unicode_is_letter(U'٣'));
  EXPECT_TRUE(unicode_is_space(0x3000));
}

// Splits produced by HF tokenizers 0.23 (Split with the Llama-3 regex) for these strings.
TEST(BpePretokenizer, MatchesHfTokenizersOnMixedScripts) {
  const auto k = PreTokenizer::kLlama3;
  EXPECT_EQ(
      split("Привет, мир! Γειά σου κόσμε. مرحبا بالعالم. नमस्ते दुनिया. 안녕하세요 세계. "
            "こんにちは、世界。",
            k),
      (V{"Привет",      ",",     " мир", "!",           " Γειά",  " σου", " κόσμε", ".",  " مرحبا",
         " بالعالم",    ".",     " नमस", "्त",           "े",       " द",   "ुन",      "िय", "ा.",
         " 안녕하세요", " 세계", ".",    " こんにちは", "、世界", "。"}));
  EXPECT_EQ(
      split("'s 're 've 'm 'll 'd 'S 'RE", k),
      (V{"'s", " '", "re", " '", "ve", " '", "m", " '", "ll", " '", "d", " '", "S", " '", "RE"}));
  EXPECT_EQ(split("don't DON'T 12345678 ½ ²", k),
            (V{"don", "'t", " DON", "'T", " ", "123", "456", "78", " ", "½", " ", "²"}));
}

TEST(BpePretokenizer, EmptyText) { EXPECT_TRUE(pretokenize("", PreTokenizer::kLlama3).empty()); }

}  // namespace
}  // namespace lrkv
