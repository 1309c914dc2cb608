// Resource limits: files that declare huge tensors, counts or vocabularies are refused before
// allocating, and `lrkv info` on each of them stays under the stated peak-memory bound
// (README "Resource limits": 64 MiB above the start-up footprint, + the weights in memory; these
// files hold no weights). The peak is the child's ru_maxrss from wait4; the start-up footprint is the
// peak of `lrkv --version` measured in the same run (about 13 MiB for a CPU build, about 270 MiB when
// the CUDA libraries are linked: the loader touches their pages).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/model_io.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

constexpr long kInfoBoundKiB = 64 * 1024;

struct ChildRun {
  int exit_code = -1;
  long max_rss_kib = 0;
  std::string output;  // stdout + stderr
};

// Runs the CLI with `args` (no shell) and reports its exit code, output and peak RSS.
ChildRun run_cli(const std::vector<std::string>& args) {
  const std::string out_path = test::temp_dir() + "/child.out";
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    const std::string cli = test::cli_path();
    argv.push_back(const_cast<char*>(cli.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(cli.c_str(), argv.data());
    _exit(127);
  }
  ChildRun r;
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.max_rss_kib = ru.ru_maxrss;
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string p = test::temp_dir() + "/" + name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

template <typename T>
void put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void put_str(std::string* s, const std::string& v) {
  put<uint64_t>(s, v.size());
  s->append(v);
}

// GGUF v3 header with `n_tensors` and `n_kv`, then `body`.
std::string gguf(uint64_t n_tensors, uint64_t n_kv, const std::string& body) {
  std::string s = "GGUF";
  put<uint32_t>(&s, 3);
  put<uint64_t>(&s, n_tensors);
  put<uint64_t>(&s, n_kv);
  return s + body;
}

// Peak RSS of a run that reads no file: what the binary and its shared libraries cost to start.
long startup_rss_kib() {
  static const long kib = run_cli({"--version"}).max_rss_kib;
  return kib;
}

void expect_refused_cheaply(const std::string& path, const std::string& fragment) {
  const long base = startup_rss_kib();
  ASSERT_GT(base, 0);
  const ChildRun r = run_cli({"info", path});
  EXPECT_EQ(r.exit_code, 2) << path << ": " << r.output;
  EXPECT_NE(r.output.find("lrkv: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(fragment), std::string::npos) << fragment << " in: " << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_LT(r.max_rss_kib - base, kInfoBoundKiB)
      << path << " peaked at " << r.max_rss_kib << " KiB; start-up alone takes " << base << " KiB";
}

TEST(ResourceLimits, GgufHugeDeclarations) {
  expect_refused_cheaply(write_file("count.gguf", gguf(uint64_t{1} << 60, 0, "")), "tensor count");
  expect_refused_cheaply(write_file("kv.gguf", gguf(0, uint64_t{1} << 40, "")), "metadata key/value count");
  std::string arr;  // one string array declaring 2^40 elements
  put_str(&arr, "tokenizer.ggml.tokens");
  put<uint32_t>(&arr, 9);  // array
  put<uint32_t>(&arr, 8);  // of strings
  put<uint64_t>(&arr, uint64_t{1} << 40);
  expect_refused_cheaply(write_file("arr.gguf", gguf(0, 1, arr)), "array element count");
  std::string t;  // one f32 tensor of 2^20 x 2^20 elements
  put_str(&t, "token_embd.weight");
  put<uint32_t>(&t, 2);
  put<uint64_t>(&t, uint64_t{1} << 20);
  put<uint64_t>(&t, uint64_t{1} << 20);
  put<uint32_t>(&t, 0);
  put<uint64_t>(&t, 0);
  expect_refused_cheaply(write_file("big.gguf", gguf(1, 0, t)), "beyond the end of the file");
}

TEST(ResourceLimits, SafetensorsHugeDeclarations) {
  std::string len_only;
  put<uint64_t>(&len_only, uint64_t{1} << 62);
  expect_refused_cheaply(write_file("hdr.safetensors", len_only + "{}"), "header");
  const std::string hdr =
      R"({"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}})";
  std::string big;
  put<uint64_t>(&big, hdr.size());
  expect_refused_cheaply(write_file("shape.safetensors", big + hdr), "'w'");
}

TEST(ResourceLimits, Llama2cHugeHeader) {
  std::string h;  // dim 2^20, hidden 2^22, 64 layers, 1024 heads, vocab 2^24, seq 2^20
  for (int32_t v : {1 << 20, 1 << 22, 64, 1024, 1024, 1 << 24, 1 << 20}) put<int32_t>(&h, v);
  expect_refused_cheaply(write_file("huge.bin", h + std::string(64, '\0')), "header implies at least");
}

TEST(ResourceLimits, TokenizerFilesWithHugeVocabularies) {
  auto m = make_random_model(test::tiny_config(), 3);
  ASSERT_TRUE(m.ok());
  const std::string dir = test::temp_dir() + "/hf_huge";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(save_model(*m, dir + "/model.safetensors").ok());
  std::ofstream(dir + "/tokenizer.json")
      << R"({"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":16777215},"merges":[]}})";
  expect_refused_cheaply(dir, "token ids reach 16777215 but only 1 tokens are defined");

  // llama2.c: a tokenizer.bin too short for the model's vocabulary.
  const std::string l2c = test::temp_dir() + "/l2c";
  std::filesystem::create_directories(l2c);
  std::string model;
  for (int32_t v : {8, 16, 1, 2, 2, 1 << 16, 4}) put<int32_t>(&model, v);
  const int64_t floats = int64_t{1 << 16} * 8 + (2 * 8 + 4 * 64 + 3 * 16 * 8) + 8 + 4 * 4;
  model.append(static_cast<size_t>(floats) * 4, '\0');
  std::ofstream(l2c + "/model.bin", std::ios::binary) << model;
  std::string tok;
  put<int32_t>(&tok, 16);
  std::ofstream(l2c + "/tokenizer.bin", std::ios::binary) << tok;
  const ChildRun r = run_cli({"info", l2c + "/model.bin"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("vocabulary of 65536 tokens needs at least"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace lrkv
