// STUB: replaced by the byte-level BPE work.
#include "model/bpe_tokenizer.h"
namespace lrkv {
Result<std::unique_ptr<Tokenizer>> BpeTokenizer::create(Vocab) {
  return make_error(ErrorCode::kUnsupported, "byte-level BPE tokenizer not implemented yet");
}
std::vector<int> BpeTokenizer::encode(std::string_view, bool) const { return {}; }
std::string BpeTokenizer::token_text(int) const { return {}; }
}  // namespace lrkv
