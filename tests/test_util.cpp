#include "test_util.h"

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>


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

std::vector<float> randn(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

Mat randn_mat(int64_t rows, int64_t cols, uint32_t seed, double scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  Mat m(rows, cols);
  for (double& x : m.a) x = d(rng);
  return m;
}

void expect_error(const Status& s, ErrorCode code, std::initializer_list<std::string> mentions) {
  if (s.ok()) {
    ADD_FAILURE() << "expected a " << error_code_name(code) << " error, got ok";
    return;
  }
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << "multi-line error: " << s.to_string();
  for (const std::string& m : mentions) {
    EXPECT_NE(s.message().find(m), std::string::npos) << "'" << m << "' not in: " << s.to_string();
  }
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

namespace lrkv {

void PrintTo(ErrorCode code, std::ostream* os) { *os << error_code_name(code); }

void PrintTo(const LlamaConfig& c, std::ostream* os) {
  *os << "{arch=" << c.arch << " name=\"" << c.name << "\" n_vocab=" << c.n_vocab
      << " d_model=" << c.d_model << " n_layer=" << c.n_layer << " n_head=" << c.n_head
      << " n_kv_head=" << c.n_kv_head << " head_dim=" << c.head_dim << " d_ff=" << c.d_ff
      << " max_seq=" << c.max_seq << " norm_eps=" << c.norm_eps << " rope_theta=" << c.rope_theta
      << " rope_layout="
      << (c.rope_layout == RopeLayout::kHalfSplit ? "half_split" : "interleaved");
  const RopeScaling& r = c.rope_scaling;
  *os << " rope_scaling={llama3=" << r.llama3 << " factor=" << r.factor
      << " low=" << r.low_freq_factor << " high=" << r.high_freq_factor
      << " original_max_position=" << r.original_max_position << "}";
  *os << " rope_freq_factors=[" << c.rope_freq_factors.size() << "]{";
  for (size_t i = 0; i < c.rope_freq_factors.size(); ++i)
    *os << (i ? " " : "") << c.rope_freq_factors[i];
  *os << "} tied_embeddings=" << c.tied_embeddings << " qkv_bias=" << c.qkv_bias
      << " bos_id=" << c.bos_id << " eos_id=" << c.eos_id << "}";
}

}  // namespace lrkv
