#include "compress/calibrate_text.h"

#include <algorithm>

#include "core/log.h"
#include "model/cpu_engine.h"

namespace lrkv {

Result<CalibrationStats> calibrate_from_text(const Model& m, const TextSourceOptions& text,
                                             const CalibrationOptions& options) {
  if (!m.tokenizer) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer found; pass --tokenizer FILE", m.source_path);
  }
  LRKV_ASSIGN_OR_RETURN(auto docs, read_documents(text));
  const std::vector<int> tokens = tokenize_documents(*m.tokenizer, docs, true);
  log_info("calibration text {}: {} documents, {} tokens (using {})", text.path, docs.size(), tokens.size(),
           options.max_tokens > 0 ? std::min<int64_t>(options.max_tokens, tokens.size()) : tokens.size());
  CpuEngine engine(m);
  LRKV_RETURN_IF_ERROR(engine.status());
  if (engine.compressed()) {
    return make_error(ErrorCode::kInvalidArgument, "{} is already compressed; calibrate the original model",
                      m.source_path);
  }
  LRKV_ASSIGN_OR_RETURN(CalibrationStats s, run_calibration(engine, tokens, options));
  s.text = text.path + (text.range.empty() ? "" : " [" + text.range + "]");
  return s;
}

}  // namespace lrkv
