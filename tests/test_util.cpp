#include "test_util.h"

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "model/cpu_engine.h"

namespace lrkv::test {

namespace fs = std::filesystem;

std::string shared_path(const std::string& rel) {
  if (const char* env = std::getenv("LRKV_SHARED_DIR")) return (fs::path(env) / rel).string();
  return (fs::path(LRKV_SHARED_DIR) / rel).string();
}

bool shared_exists(const std::string& rel) { return fs::exists(shared_path(rel)); }

std::string temp_dir() {
  static const fs::path root = [] {
    fs::path p = fs::temp_directory_path() / ("lrkv-test-" + std::to_string(::getpid()));
    fs::create_directories(p);
    std::atexit([] { std::error_code ec; fs::remove_all(fs::temp_directory_path() / ("lrkv-test-" + std::to_string(::getpid())), ec); });
    return p;
  }();
  static int counter = 0;
  fs::path p = root / std::to_string(counter++);
  fs::create_directories(p);
  return p.string();
}

std::string cli_path() { return LRKV_CLI_PATH; }

int run_command(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buf;
  output->clear();
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) output->append(buf.data(), n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

LlamaConfig tiny_config(int n_layer, int n_head, int n_kv_head, int head_dim) {
  LlamaConfig c;
  c.name = "tiny";
  c.n_vocab = 300;
  c.d_model = 20;
  c.n_layer = n_layer;
  c.n_head = n_head;
  c.n_kv_head = n_kv_head;
  c.head_dim = head_dim;
  c.d_ff = 36;
  c.max_seq = 64;
  return c;
}

std::vector<float> logits_of(const Model& m, const std::vector<int>& tokens, const KvCacheSpec& spec) {
  CpuEngine engine(m);
  EXPECT_TRUE(engine.status().ok()) << engine.status().to_string();
  auto cache = engine.make_cache(1, static_cast<int>(tokens.size()), spec);
  EXPECT_TRUE(cache.ok()) << cache.status().to_string();
  if (!cache.ok()) return {};
  std::vector<float> out;
  Status s = engine.forward({{0, tokens.data(), static_cast<int>(tokens.size())}}, **cache, LogitsMode::kAll, &out);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

MaxDiff max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  MaxDiff d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double e = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (e > d.value || std::isnan(e)) {
      d.value = std::isnan(e) ? INFINITY : e;
      d.index = i;
    }
  }
  return d;
}

}  // namespace lrkv::test
