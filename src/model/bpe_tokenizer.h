// Byte-level BPE tokenizer (GPT-2 family: Llama 3, SmolLM, Qwen2).
#pragma once

#include <memory>

#include "model/tokenizer.h"

namespace lrkv {

class BpeTokenizer final : public Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> create(Vocab vocab);
  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  std::string token_text(int id) const override;

 private:
  explicit BpeTokenizer(Vocab v) : Tokenizer(std::move(v)) {}
};

}  // namespace lrkv
