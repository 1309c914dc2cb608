#include "io/llama2c_tokenizer.h"

#include "core/mmap_file.h"
#include "io/byte_reader.h"

namespace lrkv {

namespace {
std::string trim_newlines(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && s[a] == '\n') ++a;
  while (b > a && s[b - 1] == '\n') --b;
  return s.substr(a, b - a);
}

// The file holds exactly the model's n_vocab entries: a larger tokenizer (e.g. a 32000-token one
// given for a 512-token model) would silently be cut to its first n_vocab pieces.
Status check_no_more_tokens(ByteReader& r, const std::string& path, int n_vocab) {
  int64_t more = 0;
  while (r.remaining() >= 8) {
    float score = 0.0f;
    int32_t len = 0;
    if (!r.read(&score, "token score").ok() || !r.read(&len, "token length").ok() || len < 0 ||
        static_cast<uint64_t>(len) > r.remaining() || !r.seek(r.offset() + len, "token bytes").ok()) {
      break;
    }
    ++more;
  }
  if (more > 0) {
    return make_error(ErrorCode::kInvalidArgument, "{}: tokenizer has {} tokens, but the model's vocabulary is {}",
                      path, n_vocab + more, n_vocab);
  }
  return Status::Ok();
}

}  // namespace

Result<Vocab> read_llama2c_tokenizer(const std::string& path, int n_vocab) {
  LRKV_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  ByteReader r(file->data(), file->size(), path);
  if (file->size() == 0) return make_error(ErrorCode::kCorruptFile, "{}: file is empty (0 bytes)", path);
  int32_t max_len = 0;
  LRKV_RETURN_IF_ERROR(r.read(&max_len, "max_token_length"));
  if (max_len <= 0 || max_len > 4096) {
    return make_error(ErrorCode::kCorruptFile, "{}: max_token_length {} is not a plausible value "
                      "(not a llama2.c tokenizer.bin?)", path, max_len);
  }
  // Each token takes at least 8 bytes (score, length): refuse a vocabulary the file cannot hold
  // before allocating it.
  if (n_vocab < 0 || static_cast<uint64_t>(n_vocab) > r.remaining() / 8) {
    return make_error(ErrorCode::kCorruptFile,
                      "{}: the model's vocabulary of {} tokens needs at least {} bytes, the file has "
                      "{} after its header (truncated, or the tokenizer of another model?)",
                      path, n_vocab, int64_t{n_vocab} * 8, r.remaining());
  }
  Vocab v;
  v.kind = TokenizerKind::kSentencePiece;
  v.tokens.resize(n_vocab);
  v.scores.resize(n_vocab);
  v.types.assign(n_vocab, TokenType::kNormal);
  for (int i = 0; i < n_vocab; ++i) {
    int32_t len = 0;
    LRKV_RETURN_IF_ERROR(r.read(&v.scores[i], "token score"));
    LRKV_RETURN_IF_ERROR(r.read(&len, "token length"));
    if (len < 0 || len > max_len) {
      return make_error(ErrorCode::kCorruptFile, "{}: token {} has length {} (max_token_length {})",
                        path, i, len, max_len);
    }
    std::string piece;
    LRKV_RETURN_IF_ERROR(r.read_bytes(static_cast<uint64_t>(len), &piece, "token bytes"));
    std::string sp;
    for (char c : piece) {
      if (c == ' ') {
        sp += "\xE2\x96\x81";
      } else {
        sp += c;
      }
    }
    v.tokens[i] = std::move(sp);
  }
  LRKV_RETURN_IF_ERROR(check_no_more_tokens(r, path, n_vocab));
  // SentencePiece conventions of llama2.c exports: 0 <unk>, 1 <s>, 2 </s>, <0xXX> byte pieces.
  for (int i = 0; i < n_vocab; ++i) {
    const std::string t = trim_newlines(v.tokens[i]);
    if (t == "<unk>") {
      v.tokens[i] = t;
      v.types[i] = TokenType::kUnknown;
      v.unk_id = i;
    } else if (t == "<s>" || t == "</s>") {
      v.tokens[i] = t;
      v.types[i] = TokenType::kControl;
      (t == "<s>" ? v.bos_id : v.eos_id) = i;
    } else if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
      v.types[i] = TokenType::kByte;
    }
  }
  return v;
}

}  // namespace lrkv
