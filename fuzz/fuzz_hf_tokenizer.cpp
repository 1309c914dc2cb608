// HF tokenizer.json parser + tokenizer construction on arbitrary text; a tokenizer that builds
// encodes and decodes a fixed string.
#include "fuzz_util.h"
#include "io/hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lrkv::fuzz::scratch_dir();  // quiet logging
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto vocab = lrkv::parse_hf_tokenizer(text, "tokenizer.json");
  if (!vocab.ok()) return 0;
  auto tok = lrkv::make_tokenizer(std::move(vocab).value());
  if (tok.ok()) lrkv::fuzz::exercise_tokenizer(**tok);
  return 0;
}
