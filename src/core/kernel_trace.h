// A device's kernels as a tracer saw them: the records a profile is made of
// (eval/report/kernel_profile.h summarises them; backend/cuda/cupti_tracer.h collects them).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace lrkv {

// One kernel execution as a tracer reports it; times in ns on the tracer's clock.
struct KernelRecord {
  std::string name;  // demangled, arguments dropped ("void f<4>(float*)" -> "f<4>"); "[memcpy HtoD]" ...
  uint64_t start_ns = 0, end_ns = 0;
  std::array<int, 3> grid = {1, 1, 1};
  std::array<int, 3> block = {1, 1, 1};
};

// Collects the kernels a device runs between start() and stop() (process-wide); now_ns() reads
// the records' clock, so a caller can mark the part of the run it wants summarised. Tracing is on
// from start() so that work the device sets up inside it (CUDA graphs instantiated after start)
// is traced node by node.
class KernelTracer {
 public:
  virtual ~KernelTracer() = default;
  virtual Status start() = 0;
  virtual uint64_t now_ns() = 0;
  // Waits for the device, then returns every kernel that ran since start(), in no given order.
  virtual Result<std::vector<KernelRecord>> stop() = 0;
  // What collected the records ("CUPTI 13.0" ...), for the report.
  virtual std::string source() const = 0;
};

// "void ns::f<4, true>(float*, int)" -> "ns::f<4, true>": the return type and argument list go.
std::string short_kernel_name(const std::string& demangled);

}  // namespace lrkv
