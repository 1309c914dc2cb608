// Files lrkv writes that are not models — rank plans, eval reports, PNG plots, calibration
// statistics, logits files, tune checkpoints — recognised from their first bytes (and, for
// safetensors, the header's metadata), so that loading one as a model names what it is instead
// of misreading it (e.g. a JSON plan parsed as a llama2.c header). Reads at most the header.
#pragma once

#include <string>

#include "core/status.h"

namespace lrkv {

// "an lrkv rank plan (JSON, from `lrkv plan`)", ...; "" when the file is none of them.
std::string non_model_kind(const std::string& path);

// An error "PATH is KIND, not a model" when non_model_kind() recognises the file; Ok otherwise.
Status refuse_non_model(const std::string& path);

}  // namespace lrkv
