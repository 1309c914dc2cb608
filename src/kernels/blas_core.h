// Which OpenBLAS kernels this process runs. Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its
// kernels from the CPU model at load; on CPUs its tables do not know (e.g. a hypervisor's generic
// "Intel Xeon Processor" with AVX-512) it falls back to Prescott, the SSE3 kernels: measured on
// such a VM (2 threads, lrkv-mha6), decode 151-176 -> 625 tok/s and prefill 1.8-2.5K -> 5.1K tok/s
// with OPENBLAS_CORETYPE=SkylakeX. The choice is made in OpenBLAS's load-time constructor, before
// main(), so the CLI and the CPU benchmark fix it by re-executing themselves with it set.
#pragma once

#include <string>

namespace lrkv::cpu {

// OpenBLAS's kernel family for this process ("Haswell", "SkylakeX", "Prescott", ...).
std::string blas_core_name();

// Call first thing in main(): when blas_core_to_force() names a core, runs the program again
// (execv of /proc/self/exe, same argv) with OPENBLAS_CORETYPE set, once (LRKV_BLAS_REEXEC guards
// against a loop where the library ignores the variable). Returns only when nothing needs doing
// or the exec failed (the process then goes on with the slow kernels).
void use_the_right_blas_kernels(char** argv);

// The OPENBLAS_CORETYPE this process should have had: "SkylakeX" (AVX-512F) or "Haswell" (AVX2 +
// FMA) when OpenBLAS fell back to Prescott on a CPU that has them and OPENBLAS_CORETYPE is unset;
// "" when the kernels are already right (or the user chose them).
std::string blas_core_to_force();

}  // namespace lrkv::cpu
