// STUB: replaced by the GGUF loader/writer.
#include "model/model.h"
namespace lrkv {
Result<Model> load_gguf(const std::string& path, const LoadOptions&) {
  return make_error(ErrorCode::kUnsupported, "{}: GGUF loading not implemented yet", path);
}
Status save_gguf(const Model&, const std::string& path) {
  return make_error(ErrorCode::kUnsupported, "{}: GGUF writing not implemented yet", path);
}
}  // namespace lrkv
