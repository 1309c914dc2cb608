// PNG files of a Canvas through libpng's simplified API (8-bit RGB, no interlace).
// Writing is atomic: the image is encoded in memory, written to a temporary file and renamed
// over `path`, so an interrupted run never leaves a truncated PNG.
#pragma once

#include <string>

#include "core/status.h"
#include "eval/plot/canvas.h"

namespace lrkv::plot {

Status write_png(const Canvas& canvas, const std::string& path);
// Reads any PNG libpng understands, converted to 8-bit RGB (alpha composited onto white).
// Errors name the file.
Result<Canvas> read_png(const std::string& path);

}  // namespace lrkv::plot
