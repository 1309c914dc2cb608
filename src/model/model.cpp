#include "model/model.h"

namespace lrkv {

const char* model_format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::kGguf: return "gguf";
    case ModelFormat::kSafetensors: return "safetensors";
    case ModelFormat::kLlama2c: return "llama2c";
  }
  return "?";
}

}  // namespace lrkv
