// Tokenizer interface and the vocabulary data both implementations share.
//  - SentencePiece-style (Llama 1/2, TinyStories, llama2.c): pieces with scores, "▁" for space,
//    byte-fallback tokens <0x00>..<0xFF>, greedy highest-score pair merging.
//  - Byte-level BPE (Llama 3, SmolLM, Qwen2, GPT-2): GPT-2 byte<->unicode mapping, ranked merges,
//    a regex-style pre-tokenizer.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lrkv {

enum class TokenizerKind { kSentencePiece, kBpe };

// Token types as in GGUF tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything needed to build a tokenizer and to write it back to any file format.
struct Vocab {
  TokenizerKind kind = TokenizerKind::kSentencePiece;
  // Pieces as stored in GGUF: SentencePiece uses "▁" (U+2581) for space and "<0xAB>" byte pieces;
  // BPE uses the GPT-2 byte-to-unicode alphabet ("Ġ" for space).
  std::vector<std::string> tokens;
  std::vector<float> scores;           // SentencePiece merge scores (may be empty for BPE)
  std::vector<TokenType> types;        // per token (kNormal when unknown)
  std::vector<std::string> merges;     // BPE merges "a b", highest priority first
  std::string pre;                     // BPE pre-tokenizer name: "llama3", "qwen2", "gpt2", ...
  int bos_id = 1;
  int eos_id = 2;
  int unk_id = 0;
  int pad_id = -1;
  bool add_bos = true;
  bool add_space_prefix = true;        // SentencePiece: prepend "▁" to the text
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text`, with BOS first when add_bos. Never fails: unknown bytes use byte
  // fallback (SentencePiece) or the byte alphabet (BPE).
  virtual std::vector<int> encode(std::string_view text, bool add_bos) const = 0;
  // The text of one token as it appears in output (control tokens give "").
  virtual std::string token_text(int id) const = 0;
  // Decodes a sequence (handles the leading-space rule and byte tokens spanning UTF-8 chars).
  virtual std::string decode(const std::vector<int>& ids) const;
  const Vocab& vocab() const { return vocab_; }
  int n_vocab() const { return static_cast<int>(vocab_.tokens.size()); }
  int bos() const { return vocab_.bos_id; }
  int eos() const { return vocab_.eos_id; }

 protected:
  explicit Tokenizer(Vocab v) : vocab_(std::move(v)) {}
  Vocab vocab_;
};

// Builds the tokenizer for `vocab` (validates it: sizes, ids in range, merges well-formed).
Result<std::unique_ptr<Tokenizer>> make_tokenizer(Vocab vocab);

// Streaming decoder: feed ids one at a time, get complete UTF-8 text as soon as it is complete.
// `context` (e.g. the prompt's ids) is what precedes the first pushed id: its last tokens are
// decoded with the new ones so the first piece keeps its leading space (a SentencePiece decode
// drops the space of the sequence's first piece only). Linear time: emitted ids are dropped
// once their text is complete, keeping a few as context.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, const std::vector<int>& context = {});
  std::string push(int id);  // text that became printable (may be "")
  std::string flush();       // whatever is left (invalid UTF-8 tail replaced by U+FFFD)

 private:
  static constexpr size_t kContextTokens = 4;
  void restart_after(size_t n_ids);  // the first n_ids of ids_ are all emitted: keep a context tail
  const Tokenizer& tok_;
  std::vector<int> ids_;  // context tail, then ids not yet fully emitted
  size_t emitted_ = 0;    // bytes of decode(ids_) already returned (or belonging to the context)
};

}  // namespace lrkv
