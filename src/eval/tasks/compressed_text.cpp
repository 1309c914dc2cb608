#include "eval/tasks/compressed_text.h"

#include <bzlib.h>

#include <cstring>

#include "core/mmap_file.h"

namespace lrkv {

Result<std::string> bunzip2(const std::string& in, const std::string& name) {
  std::string out;
  size_t pos = 0;
  while (pos < in.size()) {  // one iteration per bzip2 stream
    bz_stream s;
    std::memset(&s, 0, sizeof(s));
    if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) {
      return make_error(ErrorCode::kInternal, "{}: cannot initialise bzip2 decompression", name);
    }
    s.next_in = const_cast<char*>(in.data() + pos);
    s.avail_in = static_cast<unsigned>(std::min<size_t>(in.size() - pos, 1u << 30));
    int rc = BZ_OK;
    while (rc == BZ_OK) {
      if (out.size() >= kMaxTaskTextBytes) {
        BZ2_bzDecompressEnd(&s);
        return make_error(ErrorCode::kUnsupported, "{}: decompresses to more than {} bytes", name,
                          kMaxTaskTextBytes);
      }
      const size_t old = out.size();
      out.resize(old + (size_t{1} << 20));
      s.next_out = out.data() + old;
      s.avail_out = 1u << 20;
      rc = BZ2_bzDecompress(&s);
      out.resize(old + ((size_t{1} << 20) - s.avail_out));
      if (rc == BZ_OK && s.avail_in == 0 && s.avail_out != 0) rc = BZ_UNEXPECTED_EOF;
    }
    const size_t consumed = (in.size() - pos) - s.avail_in;
    BZ2_bzDecompressEnd(&s);
    if (rc != BZ_STREAM_END) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: corrupt or truncated bzip2 data (libbz2 code {}) at byte {}", name, rc,
                        pos + consumed);
    }
    pos += consumed;
    // Trailing garbage that is not another stream ends the data, as bzip2 -d warns and stops.
    if (in.size() - pos < 3 || in.compare(pos, 3, "BZh") != 0) break;
  }
  return out;
}

Result<std::string> read_text_maybe_bz2(const std::string& path) {
  LRKV_ASSIGN_OR_RETURN(std::string bytes, read_text_file(path, kMaxTaskTextBytes));
  const bool bz = bytes.size() >= 3 && bytes.compare(0, 3, "BZh") == 0;
  if (!bz) {
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".bz2") == 0) {
      return make_error(ErrorCode::kCorruptFile, "{}: named .bz2 but has no bzip2 header", path);
    }
    return bytes;
  }
  return bunzip2(bytes, path);
}

}  // namespace lrkv
