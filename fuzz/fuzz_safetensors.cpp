// safetensors header parser on arbitrary bytes, then (when it parses) the HF model loader on a
// directory holding it with the config.json and tokenizer.json given after "\n--\n" separators:
// input = model.safetensors "\n--\n" config.json "\n--\n" tokenizer.json.
#include <filesystem>

#include "io/model_io.h"
#include "fuzz_util.h"
#include "io/safetensors_file.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [st, rest] = lrkv::fuzz::split_input(data, size);
  auto parsed = lrkv::parse_safetensors(reinterpret_cast<const uint8_t*>(st.data()), st.size(),
                                        nullptr, "fuzz.safetensors");
  if (!parsed.ok()) return 0;
  auto [config, tokenizer] = lrkv::fuzz::split_input(
      reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
  const std::string dir = lrkv::fuzz::scratch_dir() + "/hf";
  std::filesystem::create_directories(dir);
  auto put = [&](const char* name, const std::string& s) {
    lrkv::fuzz::write_input(std::string("hf/") + name,
                            reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  put("model.safetensors", st);
  put("config.json", config);
  put("tokenizer.json", tokenizer);
  auto model = lrkv::load_model(dir);
  if (model.ok() && model->tokenizer) lrkv::fuzz::exercise_tokenizer(*model->tokenizer);
  return 0;
}
