// Thread counts are bounded (1..kMaxThreads) with a named error, from --threads and LRKV_THREADS,
// and the CLI never lets an exception escape (it used to abort with std::system_error).
#include <cstdlib>

#include "io/model_io.h"
#include "core/thread_pool.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

TEST(ThreadCount, CheckNamesTheSourceAndRange) {
  EXPECT_TRUE(check_thread_count(1, "--threads").ok());
  EXPECT_TRUE(check_thread_count(kMaxThreads, "--threads").ok());
  for (int64_t bad : {int64_t{0}, int64_t{-3}, int64_t{kMaxThreads} + 1, int64_t{100000}}) {
    const Status s = check_thread_count(bad, "--threads");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("--threads " + std::to_string(bad) + ": expected a thread count in 1..1024"),
              std::string::npos)
        << s.message();
  }
}

TEST(ThreadCount, EnvironmentIsParsedStrictly) {
  const char* old = std::getenv("LRKV_THREADS");
  const std::string saved = old ? old : "";
  for (const char* bad : {"100000", "0", "-1", "4x", "abc", "99999999999999999999"}) {
    setenv("LRKV_THREADS", bad, 1);
    auto r = threads_from_env();
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(std::string("LRKV_THREADS='") + bad + "'"), std::string::npos)
        << r.status().message();
  }
  setenv("LRKV_THREADS", "3", 1);
  auto ok = threads_from_env();
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  unsetenv("LRKV_THREADS");
  auto unset = threads_from_env();
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(*unset, 0);
  if (old) setenv("LRKV_THREADS", saved.c_str(), 1);
}

TEST(ThreadCount, CliRefusesHugeCountsWithExit2) {
  auto m = make_random_model(test::tiny_config(), 3);
  ASSERT_TRUE(m.ok());
  const std::string path = test::temp_dir() + "/threads.gguf";
  ASSERT_TRUE(save_model(*m, path).ok());
  const std::string cli = test::cli_path();
  struct Case {
    std::string cmd, want;
  };
  const Case cases[] = {
      {cli + " info " + path + " --threads 100000", "--threads 100000: expected a thread count in 1..1024"},
      {cli + " info " + path + " --threads -2", "--threads -2: expected"},
      {"LRKV_THREADS=100000 " + cli + " info " + path, "LRKV_THREADS='100000': expected a thread count"},
      {"LRKV_THREADS=many " + cli + " info " + path, "LRKV_THREADS='many'"},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_EQ(test::run_command(c.cmd, &out), 2) << c.cmd << "\n" << out;
    EXPECT_NE(out.find("lrkv: error: " ), std::string::npos) << out;
    EXPECT_NE(out.find(c.want), std::string::npos) << c.cmd << "\n" << out;
    EXPECT_EQ(out.find("terminate called"), std::string::npos) << out;
  }
  std::string out;
  EXPECT_EQ(test::run_command("LRKV_THREADS=2 " + cli + " info " + path + " --threads 1024", &out), 0) << out;
}

}  // namespace
}  // namespace lrkv
