// SentencePiece-style tokenizer (BPE mode with scores and byte fallback), as used by Llama 1/2,
// TinyStories and llama2.c. Encode: replace ' ' by "▁", prepend "▁" (add_space_prefix), split
// into UTF-8 characters (unknown ones become <0xXX> byte tokens), then repeatedly merge the
// adjacent pair whose concatenation is a vocabulary piece with the highest score (ties: leftmost).
// O(n log n) with a priority queue over candidate pairs.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "model/tokenizer.h"

namespace lrkv {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> create(Vocab vocab);
  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string token_text(int id) const override;
  std::string decode(const std::vector<int>& ids) const override;

 private:
  explicit SentencePieceTokenizer(Vocab v) : Tokenizer(std::move(v)) {}
  void encode_chunk(std::string_view text, std::vector<int>* out) const;
  std::unordered_map<std::string, int> piece_to_id_;
  int byte_token_[256];  // id of <0xXX>, or -1
};

}  // namespace lrkv
