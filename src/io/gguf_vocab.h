// Tokenizer vocabulary <-> GGUF "tokenizer.ggml.*" metadata (the keys llama.cpp reads):
// model ("llama" = SentencePiece, "gpt2" = byte-level BPE), tokens, scores, token_type, merges,
// pre, bos/eos/unknown/padding_token_id, add_bos_token, add_space_prefix.
#pragma once

#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "model/tokenizer.h"

namespace lrkv {

// Reads the vocabulary into *vocab. Returns false when the file has no tokenizer (no
// tokenizer.ggml.model or tokenizer.ggml.tokens) or one of another kind (logged as a warning).
// Errors (kCorruptFile) name the file and key: wrong value types, array lengths that differ.
Result<bool> read_gguf_vocab(const GgufFile& file, Vocab* vocab);

// A token id `key` into *id (absent: unchanged). Values outside [0, INT32_MAX] (files that
// store -1 as u32 0xFFFFFFFF) mean "none" (-1).
Status read_gguf_token_id(const GgufFile& file, const std::string& key, int* id);

// Adds the vocabulary's metadata to `w`.
void write_gguf_vocab(const Vocab& vocab, GgufWriter* w);

}  // namespace lrkv
