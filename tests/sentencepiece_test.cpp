// SentencePiece-style tokenizer: merges by score, byte fallback, UTF-8, decode round trips and
// streaming decode.
#include "model/sentencepiece_tokenizer.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

// <unk> <s> </s>, 256 bytes, then pieces with scores.
std::unique_ptr<Tokenizer> make_tok(const std::vector<std::pair<std::string, float>>& pieces) {
  Vocab v = make_synthetic_vocab(259);
  for (const auto& [p, s] : pieces) {
    v.tokens.push_back(p);
    v.scores.push_back(s);
    v.types.push_back(TokenType::kNormal);
  }
  auto t = make_tokenizer(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

const std::string kSp = "\xE2\x96\x81";

TEST(SentencePieceTest, MergesHighestScoreFirst) {
  // Pieces (ids 259..): ▁ a b ab ▁a ▁ab bb ; "ab" beats "▁a" on score, then "▁ab" forms.
  auto tok = make_tok({{kSp, -1}, {"a", -1}, {"b", -1}, {"ab", -2}, {kSp + "a", -3}, {kSp + "ab", -4},
                       {"bb", -10}});
  EXPECT_EQ(tok->encode("ab", false), (std::vector<int>{264}));         // ▁ab
  EXPECT_EQ(tok->encode("abb", true), (std::vector<int>{1, 264, 261}));  // <s> ▁ab b
  // A tie on score resolves to the leftmost pair: "bbb" -> bb b.
  EXPECT_EQ(tok->encode("bbb", false), (std::vector<int>{259, 265, 261}));
}

TEST(SentencePieceTest, ByteFallbackForUnknownCharacters) {
  auto tok = make_tok({{kSp, -1}, {"a", -1}});
  // "é" (C3 A9) is not a piece: byte tokens <0xC3> <0xA9> = ids 3+0xC3, 3+0xA9.
  EXPECT_EQ(tok->encode("aé", false), (std::vector<int>{259, 260, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok->decode(tok->encode("aé\n日本", false)), "aé\n日本");
}

// Fuzz finding (fuzz_llama2c): a piece "<0x-1>" was read as byte -1 by sscanf's %X and indexed
// the byte table out of bounds. Only two hex digits make a byte piece; the others are plain pieces.
TEST(SentencePieceTest, MalformedBytePiecesArePlainPieces) {
  auto tok = make_tok({{"<0x-1>", -1}, {"<0x 1>", -1}, {"<0x+F>", -1}, {"<0xG0>", -1}, {"a", -1}});
  // The real byte pieces still decode, and the malformed ones are ordinary text pieces.
  EXPECT_EQ(tok->decode({3 + 0x41}), "A");
  EXPECT_EQ(tok->decode({259}), "<0x-1>");
  EXPECT_EQ(tok->decode({262}), "<0xG0>");
  EXPECT_EQ(tok->decode({3 + 0xfa}), "\xFA");  // lower- and upper-case digits: <0xFA> is byte 250
}

TEST(SentencePieceTest, DecodeStripsOnlyTheDummyPrefix) {
  auto tok = make_tok({{kSp, -1}, {"a", -1}, {kSp + "a", -2}});
  const std::string text = "a  a a";
  EXPECT_EQ(tok->decode(tok->encode(text, true)), text);
  EXPECT_EQ(tok->decode(tok->encode(" a", false)), " a");
}

TEST(SentencePieceTest, StreamDecoderWaitsForCompleteUtf8) {
  auto tok = make_tok({{kSp, -1}, {"a", -1}});
  const auto ids = tok->encode("a日", false);  // ▁ a <E6> <97> <A5>
  StreamDecoder s(*tok);
  std::string out;
  std::vector<std::string> pieces;
  for (int id : ids) pieces.push_back(s.push(id));
  EXPECT_EQ(pieces[2], "");  // first byte of a 3-byte character: nothing yet
  EXPECT_EQ(pieces[3], "");
  for (auto& p : pieces) out += p;
  out += s.flush();
  EXPECT_EQ(out, "a日");
}

TEST(SentencePieceTest, LongTextIsFast) {
  auto tok = make_tok({{kSp, -1}, {"a", -1}, {"b", -1}, {"ab", -2}});
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "ab ba ";
  const auto ids = tok->encode(text, false);
  EXPECT_EQ(tok->decode(ids), text);
}

TEST(TokenizerTest, RejectsInconsistentVocab) {
  Vocab v = make_synthetic_vocab(300);
  v.scores.pop_back();
  test::expect_error(make_tokenizer(v).status(), ErrorCode::kCorruptFile, {"scores"});
  v = make_synthetic_vocab(300);
  v.bos_id = 300;
  auto r = make_tokenizer(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("BOS"), std::string::npos);
  test::expect_error(make_tokenizer(Vocab{}).status(), ErrorCode::kCorruptFile, {"vocab"});
}

}  // namespace
}  // namespace lrkv
