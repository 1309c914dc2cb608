// HF config.json parser on arbitrary text; a parsed config is validated as the loader does.
#include "fuzz_util.h"
#include "io/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lrkv::fuzz::scratch_dir();  // quiet logging
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto cfg = lrkv::parse_hf_config(text, "config.json");
  if (cfg.ok()) (void)cfg->config.validate("config.json");
  return 0;
}
