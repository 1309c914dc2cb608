// The CLI runs OpenBLAS's kernels for this CPU (kernels/blas_core.h): where the library fell back
// to its SSE3 (Prescott) kernels on a CPU with AVX2/AVX-512, `lrkv` re-executes itself with
// OPENBLAS_CORETYPE set, and OpenBLAS then reports that core; a user's own OPENBLAS_CORETYPE wins.
#include <cstdlib>
#include <string>

#include "kernels/blas_core.h"
#include "test_util.h"

namespace lrkv {
namespace {

// The kernel family the CLI's OpenBLAS reports last (after any re-exec): OPENBLAS_VERBOSE=2 makes
// it print "Core: NAME" at load.
std::string cli_core(const std::string& env) {
  std::string out;
  EXPECT_EQ(test::run_command(env + " OPENBLAS_VERBOSE=2 " + test::cli_path() + " --version", &out), 0) << out;
  const size_t at = out.rfind("Core: ");
  if (at == std::string::npos) return "";
  return out.substr(at + 6, out.find('\n', at) - at - 6);
}

TEST(BlasCore, CliRunsTheKernelsForThisCpu) {
  const std::string here = cpu::blas_core_name();
  ASSERT_FALSE(here.empty());
  const std::string want = cpu::blas_core_to_force();  // this test binary does not re-execute
  const std::string cli = cli_core("");
  if (cli.empty()) GTEST_SKIP() << "this OpenBLAS does not print its core (OPENBLAS_VERBOSE)";
  EXPECT_EQ(cli, want.empty() ? here : want) << "this process runs " << here;
  // An explicit choice is kept.
  EXPECT_EQ(cli_core("OPENBLAS_CORETYPE=Haswell"), "Haswell");
}

TEST(BlasCore, AnExplicitCoreTypeIsNeverOverridden) {
  const char* old = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = old ? old : "";
  setenv("OPENBLAS_CORETYPE", "Prescott", 1);
  EXPECT_EQ(cpu::blas_core_to_force(), "");
  if (old) setenv("OPENBLAS_CORETYPE", saved.c_str(), 1); else unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace
}  // namespace lrkv
