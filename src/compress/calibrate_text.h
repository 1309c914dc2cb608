// Calibration from a text file on the CPU: tokenize the documents (io/text_source.h), run the
// forward pass with the calibration hooks (compress/calibration.h). The GPU variant is
// calibrate_from_text_on (backend/device_compute.h).
#pragma once

#include "compress/calibration.h"
#include "io/text_source.h"
#include "model/model.h"

namespace lrkv {

Result<CalibrationStats> calibrate_from_text(const Model& m, const TextSourceOptions& text,
                                             const CalibrationOptions& options);

}  // namespace lrkv
