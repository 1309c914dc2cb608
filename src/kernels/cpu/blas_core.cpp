#include "kernels/blas_core.h"

#include <cblas.h>

#include <strings.h>
#include <unistd.h>

#include <cstdlib>

namespace lrkv::cpu {

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

std::string blas_core_to_force() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return "";
  if (strcasecmp(blas_core_name().c_str(), "prescott") != 0) return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return "";
}

void use_the_right_blas_kernels(char** argv) {
  if (std::getenv("LRKV_BLAS_REEXEC") != nullptr) return;
  const std::string core = blas_core_to_force();
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv("LRKV_BLAS_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("LRKV_BLAS_REEXEC");
}

}  // namespace lrkv::cpu
