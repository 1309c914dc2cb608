// Shared helpers of the libFuzzer harnesses: the fuzz input written to a per-process file (the
// readers under test take paths and mmap them), quiet logging, and one call that exercises a
// loaded tokenizer. Harnesses only check that no input crashes, leaks, hangs or trips ASan/UBSan;
// every rejection must be a Status.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/log.h"
#include "model/tokenizer.h"

namespace lrkv::fuzz {

// A directory private to this process (tmpfs when available), created on first use.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string d = std::string(base) + "/lrkv-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    set_log_level(LogLevel::kQuiet);
    return d;
  }();
  return dir;
}

// Writes `size` bytes to scratch_dir()/name and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// Splits `data` at the first occurrence of the 4-byte separator "\n--\n"; the second part is
// empty when there is none. Harnesses that read several files take them from one input this way.
inline std::pair<std::string, std::string> split_input(const uint8_t* data, size_t size) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  const size_t at = s.find("\n--\n");
  if (at == std::string::npos) return {s, {}};
  return {s.substr(0, at), s.substr(at + 4)};
}

// Round-trips a short text through `tok` (encode, decode each id).
inline void exercise_tokenizer(const Tokenizer& tok) {
  const std::vector<int> ids = tok.encode("Hello world, <s> 123 \xC3\xA9t\xC3\xA9!\n", true);
  (void)tok.decode(ids);
}

}  // namespace lrkv::fuzz
