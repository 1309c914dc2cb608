// Bad model files: every loader returns a one-line error naming the file (never a crash), and
// the CLI turns it into exit code 2 with that one line on stderr.
#include <filesystem>
#include <fstream>

#include "core/mmap_file.h"
#include "io/model_io.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

namespace fs = std::filesystem;

std::string write_bytes(const std::string& name, const std::string& bytes) {
  const std::string p = test::temp_dir() + "/" + name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

std::string llama2c_bytes() {
  auto bytes = read_text_file(test::shared_path("models/stories260K/stories260K.bin"));
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : std::string();
}

void expect_load_error(const std::string& path, const std::string& fragment) {
  auto m = load_model(path);
  ASSERT_FALSE(m.ok()) << path << " loaded";
  const std::string msg = m.status().to_string();
  EXPECT_NE(msg.find(fs::path(path).filename().string()), std::string::npos) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line error: " << msg;
}

TEST(BadInputTest, Llama2cTruncatedEverywhere) {
  LRKV_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const std::string good = llama2c_bytes();
  for (size_t cut : {size_t{3}, size_t{27}, size_t{100}, good.size() / 2, good.size() - 4}) {
    expect_load_error(write_bytes("cut" + std::to_string(cut) + ".bin", good.substr(0, cut)), "truncated");
  }
}

TEST(BadInputTest, ZeroLengthAndWrongMagic) {
  expect_load_error(write_bytes("empty.bin", ""), "empty");
  expect_load_error(write_bytes("empty.gguf", ""), "empty");
  expect_load_error(write_bytes("magic.gguf", std::string("GGML") + std::string(60, '\0')), "magic");
}

TEST(BadInputTest, Llama2cInconsistentHeader) {
  LRKV_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  std::string bytes = llama2c_bytes();
  int32_t heads = 7;  // dim 64 is not a multiple of 7
  std::memcpy(&bytes[12], &heads, 4);
  expect_load_error(write_bytes("heads.bin", bytes), "n_heads");
  bytes = llama2c_bytes();
  int32_t kv_heads = 3;  // 8 query heads are not a multiple of 3 KV heads
  std::memcpy(&bytes[16], &kv_heads, 4);
  expect_load_error(write_bytes("kvheads.bin", bytes), "n_kv_head");
  bytes = llama2c_bytes();
  int32_t dim = 128;  // the header now implies more weights than the file holds
  std::memcpy(&bytes[0], &dim, 4);
  expect_load_error(write_bytes("dim.bin", bytes), "truncated");
}

TEST(BadInputTest, MissingTokenizerFileIsNamed) {
  LRKV_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  LoadOptions o;
  o.tokenizer_path = test::temp_dir() + "/nope.bin";
  auto m = load_model(test::shared_path("models/stories260K/stories260K.bin"), o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("nope.bin"), std::string::npos);
  o.tokenizer_path = write_bytes("tok.bin", std::string("\x07\0\0\0", 4) + "garbage");
  m = load_model(test::shared_path("models/stories260K/stories260K.bin"), o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("tok.bin"), std::string::npos) << m.status().message();
}

// The CLI: exit code 2 and a single "lrkv: error: ..." line naming the file.
TEST(BadInputTest, CliExitCodeTwoWithOneLine) {
  std::vector<std::string> files = {write_bytes("cli-empty.gguf", ""),
                                    write_bytes("cli-magic.gguf", std::string(64, 'x')),
                                    write_bytes("cli-short.bin", std::string("\x40\0\0\0", 4))};
  files.push_back(test::temp_dir() + "/does-not-exist.gguf");
  for (const std::string& f : files) {
    std::string out;
    const int rc = test::run_command(test::cli_path() + " info '" + f + "'", &out);
    EXPECT_EQ(rc, 2) << f << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_NE(out.find("lrkv: error:"), std::string::npos) << out;
    EXPECT_NE(out.find(fs::path(f).filename().string()), std::string::npos) << out;
  }
  std::string out;
  EXPECT_EQ(test::run_command(test::cli_path() + " info", &out), 2) << out;  // missing argument
  EXPECT_EQ(test::run_command(test::cli_path() + " synth --preset nope -o x.gguf", &out), 2) << out;
  EXPECT_NE(out.find("unknown preset"), std::string::npos) << out;
}

}  // namespace
}  // namespace lrkv
