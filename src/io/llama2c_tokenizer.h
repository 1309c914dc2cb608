// llama2.c tokenizer.bin: int32 max_token_length, then per token: float32 score, int32 length,
// bytes. Pieces use ' ' for space (converted to "▁" in Vocab); "<s>"/"</s>" may be wrapped in
// newlines by llama2.c's exporter.
#pragma once

#include <string>

#include "model/tokenizer.h"

namespace lrkv {

// Reads `n_vocab` tokens from `path`.
Result<Vocab> read_llama2c_tokenizer(const std::string& path, int n_vocab);

}  // namespace lrkv
