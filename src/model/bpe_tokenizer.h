// Byte-level BPE tokenizer (GPT-2 family: Llama 3, SmolLM, Qwen2).
// Encode: split out special tokens (control and user-defined pieces, matched verbatim, longest
// first), pre-tokenize the rest (bpe_pretokenizer.h, chosen by Vocab::pre), map each word's bytes
// to the GPT-2 byte alphabet (bytes_to_unicode: printable bytes stand for themselves, the others
// map to U+0100..), then repeatedly merge the adjacent pair with the lowest merge rank (ties:
// leftmost). With the Llama-3 pre-tokenizer a word that is itself a vocabulary piece is taken
// whole (HF "ignore_merges"). O(n log n) per word with a priority queue. Thread-safe (const).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/bpe_pretokenizer.h"
#include "model/tokenizer.h"

namespace lrkv {

class BpeTokenizer final : public Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> create(Vocab vocab);
  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string token_text(int id) const override;

 private:
  explicit BpeTokenizer(Vocab v) : Tokenizer(std::move(v)) {}
  void encode_word(std::string_view word, std::vector<int>* out) const;
  // Length of the longest special token starting at text[i] (0 if none), its id in *id.
  size_t match_special(std::string_view text, size_t i, int* id) const;

  PreTokenizer pre_ = PreTokenizer::kGpt2;
  bool ignore_merges_ = false;
  std::unordered_map<std::string, int> piece_to_id_;
  std::unordered_map<std::string, int> merge_rank_;  // "left right" -> rank
  std::vector<std::vector<int>> specials_by_byte_;   // first byte -> special ids, longest first
  int byte_token_[256];                              // id of each byte's single-char piece, or -1
};

// GPT-2 bytes_to_unicode: the code point standing for byte b, and its inverse (-1 if none).
uint32_t bpe_byte_to_codepoint(uint8_t b);
int bpe_codepoint_to_byte(uint32_t cp);

}  // namespace lrkv
