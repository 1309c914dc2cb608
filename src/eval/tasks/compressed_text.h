// Whole-file text reading that also understands bzip2 (".bz2", or the "BZh" magic), so task
// sets can be read in the compressed form they are distributed in (e.g. HellaSwag in llama.cpp's
// format). Multi-stream .bz2 files (pbzip2) are concatenated as bzip2 itself does.
#pragma once

#include <string>

#include "core/status.h"

namespace lrkv {

// Size cap of the file and of its decompressed text (task files are tens of MB at most).
inline constexpr size_t kMaxTaskTextBytes = size_t{256} << 20;

// The file's bytes, decompressed when it is bzip2. Errors name the file.
Result<std::string> read_text_maybe_bz2(const std::string& path);
// Decompresses an in-memory bzip2 buffer; `name` is used in error messages.
Result<std::string> bunzip2(const std::string& compressed, const std::string& name);

}  // namespace lrkv
