// check_output_paths (core/output_path.h): an output is refused when it is an input — the same
// file, also through a symlink or a hard link — when its directory is missing, when it is a
// directory, or when its extension is not the writer's.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/output_path.h"
#include "test_util.h"

namespace lrkv {
namespace {
namespace fs = std::filesystem;

void expect_refused(const Status& s, std::initializer_list<std::string> mentions) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.to_string();
  EXPECT_EQ(s.to_string().find('\n'), std::string::npos) << s.to_string();
  for (const std::string& m : mentions) EXPECT_NE(s.to_string().find(m), std::string::npos) << s.to_string();
}

TEST(OutputPath, InputsThroughLinksAreRefused) {
  const std::string dir = test::temp_dir();
  const std::string model = dir + "/m.gguf", sym = dir + "/sym.gguf", hard = dir + "/hard.gguf";
  std::ofstream(model) << "GGUF";
  fs::create_symlink(model, sym);
  fs::create_hard_link(model, hard);
  expect_refused(check_output_paths({{"-o", model, {}}}, {model}), {"-o", "m.gguf", "input"});
  expect_refused(check_output_paths({{"-o", sym, {}}}, {model}), {"sym.gguf", "input"});
  expect_refused(check_output_paths({{"--json", hard, {}}}, {model}), {"--json", "hard.gguf", "input"});
  expect_refused(check_output_paths({{"-o", model, {}}}, {"", sym}), {"input"});
  EXPECT_TRUE(check_output_paths({{"-o", dir + "/new.gguf", {".gguf"}}}, {model}).ok());
  EXPECT_TRUE(check_output_paths({{"-o", "", {".gguf"}}}, {model}).ok());  // not requested
}

TEST(OutputPath, DirectoryExtensionAndCollisions) {
  const std::string dir = test::temp_dir();
  expect_refused(check_output_paths({{"--png", dir + "/missing/x.png", {".png"}}}, {}),
                 {"--png", "missing", "does not exist"});
  expect_refused(check_output_paths({{"-o", dir + "/c.gguf", {".safetensors"}}}, {}),
                 {"-o", "c.gguf", ".safetensors"});
  expect_refused(check_output_paths({{"-o", dir, {}}}, {}), {"is a directory"});
  OutputPath report{"-o", dir + "/file", {}};
  report.directory = true;
  std::ofstream(report.path) << "x";
  expect_refused(check_output_paths({report}, {}), {"not a directory"});
  expect_refused(check_output_paths({{"-o", dir + "/a.json", {}}, {"--png", dir + "/./a.json", {}}}, {}),
                 {"--png", "also the output of -o"});
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directory(dir + "/ro");
    fs::permissions(dir + "/ro", fs::perms::owner_read | fs::perms::owner_exec);
    expect_refused(check_output_paths({{"-o", dir + "/ro/x.json", {}}}, {}), {"not writable"});
  }
}

}  // namespace
}  // namespace lrkv
