#include "kernels/blas_core.h"

#include <cblas.h>

#include <cstdlib>
#include <strings.h>

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

}  // namespace lrkv::cpu
