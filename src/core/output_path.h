// Output paths are checked before any work starts, by every command that writes: a file about
// to be written must not be one of the command's inputs (the same file, also through symlinks or
// hard links), its directory must exist and be writable, it must not be a directory, and its
// extension must be one the writer produces. Errors name the flag and the path.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace lrkv {

struct OutputPath {
  std::string flag;                     // "-o", "--json", "--png", ... (named in errors)
  std::string path;                     // empty = not requested, skipped
  std::vector<std::string> extensions;  // allowed, e.g. {".gguf", ".safetensors"}; empty = any
  bool directory = false;               // a directory to create or reuse (eval's report)
};

// Checks every non-empty output: extension, not a directory (or, for `directory` outputs, not a
// file), parent directory exists and is writable, not equal to any existing `inputs` path (nor
// to another output). Cost: a few stat() calls per pair; nothing is created or written.
Status check_output_paths(const std::vector<OutputPath>& outputs,
                          const std::vector<std::string>& inputs);

// True when `a` and `b` both exist and name the same file (same device and inode).
bool same_file(const std::string& a, const std::string& b);

}  // namespace lrkv
