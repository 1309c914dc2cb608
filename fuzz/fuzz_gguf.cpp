// GGUF reader + model loader (metadata, tensor infos, vocabulary/tokenizer, dequantisation,
// non-finite check) on arbitrary bytes.
#include "io/model_io.h"
#include "fuzz_util.h"
#include "io/gguf_reader.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lrkv::fuzz::write_input("model.gguf", data, size);
  auto file = lrkv::read_gguf(path);
  if (!file.ok()) return 0;
  for (const auto& [key, value] : file->metadata()) (void)value.to_json();
  auto model = lrkv::load_model(path);
  if (model.ok() && model->tokenizer) lrkv::fuzz::exercise_tokenizer(*model->tokenizer);
  return 0;
}
