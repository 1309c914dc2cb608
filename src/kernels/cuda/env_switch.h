// Environment switches of the CUDA kernels' A/B options (LRKV_PDL, LRKV_ATTN_STAGES, ...): read
// by the callers once per process into a static, so a benchmark compares settings run by run.
#pragma once

#include <cstdlib>

namespace lrkv::cuda {

// On/off switch `name`: unset or empty gives `dflt`; a default-on switch is off only for a value
// starting with '0', a default-off switch on only for one starting with '1'.
inline bool env_switch(const char* name, bool dflt) {
  const char* e = std::getenv(name);
  if (e == nullptr || e[0] == '\0') return dflt;
  return dflt ? e[0] != '0' : e[0] == '1';
}

// Integer `name` (atoi), 0 when unset.
inline int env_int(const char* name) {
  const char* e = std::getenv(name);
  return e ? std::atoi(e) : 0;
}

}  // namespace lrkv::cuda
