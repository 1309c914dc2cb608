// STUB: replaced by the safetensors loader/writer.
#include "model/model.h"
namespace lrkv {
Result<Model> load_safetensors(const std::string& path, const LoadOptions&) {
  return make_error(ErrorCode::kUnsupported, "{}: safetensors loading not implemented yet", path);
}
Status save_safetensors(const Model&, const std::string& path) {
  return make_error(ErrorCode::kUnsupported, "{}: safetensors writing not implemented yet", path);
}
}  // namespace lrkv
