// Byte-level BPE on a hand-built vocabulary whose expected ids are worked out by hand.
#include "model/bpe_tokenizer.h"

#include <gtest/gtest.h>

#include "model/utf8.h"

namespace lrkv {
namespace {

// Ids 0..255: the byte alphabet in byte order (so printable ASCII byte b has id b). Then:
// 256 he, 257 ll, 258 hell, 259 hello, 260 Ġw, 261 or, 262 Ġwor, 263 12, 264 123,
// 265 <|bos|> (control), 266 <|eot|> (control), 267 xyz (no merge makes it).
Vocab tiny_bpe_vocab(const std::string& pre) {
  Vocab v;
  v.kind = TokenizerKind::kBpe;
  v.pre = pre;
  for (int b = 0; b < 256; ++b) {
    std::string piece;
    utf8_append(piece, bpe_byte_to_codepoint(static_cast<uint8_t>(b)));
    v.tokens.push_back(piece);
  }
  auto merge = [&](const std::string& a, const std::string& b) {
    v.merges.push_back(a + " " + b);
    v.tokens.push_back(a + b);
  };
  merge("h", "e");
  merge("l", "l");
  merge("he", "ll");
  merge("hell", "o");
  merge("\xC4\xA0", "w");  // "Ġ w"
  merge("o", "r");
  merge("\xC4\xA0w", "or");
  merge("1", "2");
  merge("12", "3");
  v.tokens.insert(v.tokens.end(), {"<|bos|>", "<|eot|>", "xyz"});
  v.types.assign(v.tokens.size(), TokenType::kNormal);
  v.types[265] = v.types[266] = TokenType::kControl;
  v.bos_id = 265;
  v.eos_id = 266;
  v.unk_id = -1;
  return v;
}

std::unique_ptr<Tokenizer> make(const std::string& pre) {
  auto t = make_tokenizer(tiny_bpe_vocab(pre));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

TEST(BpeTokenizer, ByteAlphabet) {
  EXPECT_EQ(bpe_byte_to_codepoint(' '), 0x120u);   // Ġ
  EXPECT_EQ(bpe_byte_to_codepoint('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(bpe_byte_to_codepoint(0xAD), 0x143u);
  EXPECT_EQ(bpe_byte_to_codepoint('a'), static_cast<uint32_t>('a'));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(bpe_codepoint_to_byte(bpe_byte_to_codepoint(b)), b);
  EXPECT_EQ(bpe_codepoint_to_byte(0x500), -1);
}

TEST(BpeTokenizer, RankedMergesByHand) {
  auto t = make("llama3");
  // "hello" -> he, ll -> hell -> hello; " world" -> Ġw (rank 4) before or (5) -> Ġwor, l, d.
  EXPECT_EQ(t->encode("hello world", false), (std::vector<int>{259, 262, 'l', 'd'}));
  EXPECT_EQ(t->encode("hello", true), (std::vector<int>{265, 259}));
  EXPECT_EQ(t->token_text(262), " wor");
  EXPECT_EQ(t->token_text(265), "");
  EXPECT_EQ(make("gpt2")->encode("hello world", false), (std::vector<int>{259, 262, 'l', 'd'}));
}

TEST(BpeTokenizer, DigitsFollowThePreTokenizer) {
  EXPECT_EQ(make("llama3")->encode("12345", false), (std::vector<int>{264, '4', '5'}));
  EXPECT_EQ(make("qwen2")->encode("12345", false), (std::vector<int>{'1', '2', '3', '4', '5'}));
  EXPECT_EQ(make("gpt2")->encode("12345", false), (std::vector<int>{264, '4', '5'}));
}

TEST(BpeTokenizer, SpecialTokensMatchVerbatim) {
  auto t = make("llama3");
  EXPECT_EQ(t->encode("<|bos|>hello<|eot|>", false), (std::vector<int>{265, 259, 266}));
  EXPECT_EQ(t->encode("<|bo", false), (std::vector<int>{'<', '|', 'b', 'o'}));
}

TEST(BpeTokenizer, Llama3IgnoresMergesForWholeWords) {
  EXPECT_EQ(make("llama3")->encode("xyz", false), (std::vector<int>{267}));
  EXPECT_EQ(make("gpt2")->encode("xyz", false), (std::vector<int>{'x', 'y', 'z'}));
}

TEST(BpeTokenizer, RoundTripsText) {
  const std::vector<std::string> texts = {"hello world",
                                          "caf\xC3\xA9 na\xC3\xAFve",
                                          "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
                                          "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89!",
                                          "line one\nline two\r\n\n  indented",
                                          "many     spaces   ",
                                          "digits 12345 and 3.14159",
                                          "don't we'll I'M",
                                          "\t tabs\t\t",
                                          std::string("nul\0byte", 8),
                                          "bad \xFF utf8"};
  for (const char* pre : {"llama3", "qwen2", "gpt2"}) {
    auto t = make(pre);
    for (const std::string& s : texts) {
      const std::vector<int> ids = t->encode(s, false);
      EXPECT_EQ(t->decode(ids), s) << pre << ": '" << s << "'";
      for (int id : ids) ASSERT_TRUE(id >= 0 && id < t->n_vocab()) << s;
    }
  }
}

TEST(BpeTokenizer, RejectsMalformedMerges) {
  Vocab v = tiny_bpe_vocab("llama3");
  v.merges.push_back("nospace");
  auto t = make_tokenizer(std::move(v));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("nospace"), std::string::npos);
}

}  // namespace
}  // namespace lrkv
