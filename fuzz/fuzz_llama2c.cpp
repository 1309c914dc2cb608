// llama2.c checkpoint + tokenizer.bin on arbitrary bytes: input = model.bin "\n--\n"
// tokenizer.bin (written side by side, as the loader looks for tokenizer.bin beside the model).
#include <filesystem>

#include "io/model_io.h"
#include "fuzz_util.h"
#include "io/llama2c_tokenizer.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [model_bytes, tok_bytes] = lrkv::fuzz::split_input(data, size);
  const std::string dir = lrkv::fuzz::scratch_dir() + "/l2c";
  std::filesystem::create_directories(dir);
  const std::string model_path = lrkv::fuzz::write_input(
      "l2c/model.bin", reinterpret_cast<const uint8_t*>(model_bytes.data()), model_bytes.size());
  const std::string tok_path = lrkv::fuzz::write_input(
      "l2c/tokenizer.bin", reinterpret_cast<const uint8_t*>(tok_bytes.data()), tok_bytes.size());
  // The tokenizer alone, with the vocabulary size from the model header when there is one.
  int32_t n_vocab = 32;
  if (model_bytes.size() >= 24) std::memcpy(&n_vocab, model_bytes.data() + 20, 4);
  if (n_vocab < 0) n_vocab = -(n_vocab + 1);
  auto vocab = lrkv::read_llama2c_tokenizer(tok_path, std::min(n_vocab, 1 << 16));
  if (vocab.ok()) {
    auto tok = lrkv::make_tokenizer(std::move(vocab).value());
    if (tok.ok()) lrkv::fuzz::exercise_tokenizer(**tok);
  }
  auto model = lrkv::load_llama2c(model_path, {});
  if (model.ok() && model->tokenizer) lrkv::fuzz::exercise_tokenizer(*model->tokenizer);
  return 0;
}
