#include "model/tokenizer.h"

#include <algorithm>

#include "model/bpe_tokenizer.h"
#include "model/sentencepiece_tokenizer.h"
#include "model/utf8.h"

namespace lrkv {

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string s;
  for (int id : ids) s += token_text(id);
  return s;
}

Result<std::unique_ptr<Tokenizer>> make_tokenizer(Vocab vocab) {
  const int n = static_cast<int>(vocab.tokens.size());
  if (n == 0) return make_error(ErrorCode::kCorruptFile, "tokenizer has an empty vocabulary");
  if (!vocab.scores.empty() && static_cast<int>(vocab.scores.size()) != n) {
    return make_error(ErrorCode::kCorruptFile, "tokenizer: {} scores for {} tokens", vocab.scores.size(), n);
  }
  if (!vocab.types.empty() && static_cast<int>(vocab.types.size()) != n) {
    return make_error(ErrorCode::kCorruptFile, "tokenizer: {} token types for {} tokens", vocab.types.size(), n);
  }
  auto check_id = [&](int id, const char* what) -> Status {
    if (id < -1 || id >= n) {
      return make_error(ErrorCode::kCorruptFile, "tokenizer: {} id {} outside vocabulary of {}", what, id, n);
    }
    return Status::Ok();
  };
  LRKV_RETURN_IF_ERROR(check_id(vocab.bos_id, "BOS"));
  LRKV_RETURN_IF_ERROR(check_id(vocab.eos_id, "EOS"));
  LRKV_RETURN_IF_ERROR(check_id(vocab.unk_id, "UNK"));
  LRKV_RETURN_IF_ERROR(check_id(vocab.pad_id, "PAD"));
  if (vocab.kind == TokenizerKind::kBpe) return BpeTokenizer::create(std::move(vocab));
  return SentencePieceTokenizer::create(std::move(vocab));
}

StreamDecoder::StreamDecoder(const Tokenizer& tok, const std::vector<int>& context) : tok_(tok) {
  const size_t n = std::min(context.size(), kContextTokens);
  ids_.assign(context.end() - static_cast<std::ptrdiff_t>(n), context.end());
  emitted_ = tok_.decode(ids_).size();
}

void StreamDecoder::restart_after(size_t n_ids) {
  const size_t keep = std::min(n_ids, kContextTokens);
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(n_ids - keep));
  emitted_ = tok_.decode(ids_).size();
}

std::string StreamDecoder::push(int id) {
  ids_.push_back(id);
  const std::string all = tok_.decode(ids_);
  const size_t ready = utf8_complete_prefix(all);
  std::string out;
  if (ready > emitted_) {
    out = all.substr(emitted_, ready - emitted_);
    emitted_ = ready;
  }
  if (ready == all.size() && ids_.size() > 4 * kContextTokens) restart_after(ids_.size());
  return out;
}
std::string StreamDecoder::flush() {
  const std::string all = tok_.decode(ids_);
  std::string out;
  for (size_t i = emitted_; i < all.size();) utf8_append(out, utf8_next(all, i));
  emitted_ = all.size();
  return out;
}

}  // namespace lrkv
