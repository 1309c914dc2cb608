// Issue 17: NaN rows in a .lgp logits file gave a KL of 7.6e-08 and 88.89% top-1 agreement;
// reading such a row is now an error naming the file, the row and the token.
#include <cstring>
#include <fstream>

#include "core/mmap_file.h"
#include "eval/logits_file.h"
#include "test_util.h"

namespace lrkv {
namespace {

TEST(LogitsFile, NanRowsAreRefusedByName) {
  const std::string path = test::temp_dir() + "/base.lgp";
  auto w = LogitsWriter::create(path, 5);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  const float a[5] = {1, 2, 3, 4, 5}, b[5] = {0, -1, 2, 0.5f, 1};
  ASSERT_TRUE(w->add(7, 3, a).ok());
  ASSERT_TRUE(w->add(8, 1, b).ok());
  ASSERT_TRUE(w->finish().ok());
  auto bytes = read_text_file(path);
  ASSERT_TRUE(bytes.ok());
  // Row 1 starts after the 16-byte header and row 0 (12 + 5 * 2 bytes); its log-probs after 12.
  const uint16_t nan_f16 = 0x7E00;
  std::string broken = *bytes;
  std::memcpy(&broken[16 + 22 + 12 + 2 * 2], &nan_f16, 2);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << broken;
  // The reader checks every row when it opens the file (issue 16), so the NaN row is refused there.
  auto r = LogitsReader::open(path);
  ASSERT_FALSE(r.ok());
  const Status s = r.status();
  for (const std::string& m : {path, std::string("row 1")}) {
    EXPECT_NE(s.to_string().find(m), std::string::npos) << s.to_string();
  }
  EXPECT_EQ(s.to_string().find('\n'), std::string::npos);
}

TEST(LogitsFile, ImplausibleHeaderIsRefused) {
  const std::string path = test::temp_dir() + "/big.lgp";
  std::string bytes = std::string("LRKVLGP1") + std::string(8, '\0');
  const uint32_t nv = 0xFFFFFFFFu;
  std::memcpy(&bytes[8], &nv, 4);
  const uint64_t rows = 1;
  bytes.append(reinterpret_cast<const char*>(&rows), 8);
  bytes += "LRKVEND1";
  std::ofstream(path, std::ios::binary) << bytes;
  auto r = LogitsReader::open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().to_string().find("vocabulary 4294967295"), std::string::npos) << r.status().to_string();
}

}  // namespace
}  // namespace lrkv
