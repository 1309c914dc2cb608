// HF tokenizers' tokenizer.json <-> Vocab.
// Reading (model.type "BPE" only):
//  - byte-level (ByteLevel pre-tokenizer or decoder) -> TokenizerKind::kBpe: vocab map, merges
//    ("a b" strings or [a, b] pairs), pre-tokenizer recognised from the Split regex (llama3,
//    qwen2; otherwise gpt2), added tokens special -> kControl, others -> kUserDefined.
//  - "byte_fallback": true (Llama-2 style, "▁" for space) -> TokenizerKind::kSentencePiece.
//    tokenizer.json has merges but no scores: the piece made by merge rank r gets score -r, so
//    SentencePiece's highest-score-first merging follows the merge order. Pieces no merge makes
//    get score 0 (approximation: HF BPE could never produce a multi-character one of them).
//    <0xXX> pieces -> kByte, the unk_token -> kUnknown, special added tokens -> kControl.
// Writing produces the matching layout. A SentencePiece vocabulary (llama2.c, GGUF) has scores
// but no merges: every piece of two or more characters, by decreasing score (ties: lower id),
// gets one merge per split into two mergeable pieces. Reading that back gives scores in the same
// order, so encoding is identical unless two multi-character pieces had exactly equal scores.
#pragma once

#include <string>

#include "model/tokenizer.h"

namespace lrkv {

// Parses tokenizer.json text; `source` names the file in errors. bos/eos come from the
// post-processor template or well-known names ("<s>", "<|begin_of_text|>", ...), -1 if none.
Result<Vocab> parse_hf_tokenizer(const std::string& text, const std::string& source);

// tokenizer.json text for `vocab`. Fails (kUnsupported) when two tokens share a piece.
Result<std::string> hf_tokenizer_json(const Vocab& vocab);

}  // namespace lrkv
