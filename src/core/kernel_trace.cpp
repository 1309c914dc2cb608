#include "core/kernel_trace.h"

namespace lrkv {

std::string short_kernel_name(const std::string& demangled) {
  std::string s = demangled;
  // The argument list: the parenthesis that closes at the very end, matched backwards (a name
  // may itself hold "(anonymous namespace)").
  if (!s.empty() && s.back() == ')') {
    int depth = 0;
    for (size_t i = s.size(); i-- > 0;) {
      if (s[i] == ')') ++depth;
      if (s[i] == '(' && --depth == 0) {
        s.resize(i);
        break;
      }
    }
  }
  const std::string anon = "(anonymous namespace)::";
  for (size_t p; (p = s.find(anon)) != std::string::npos;) s.erase(p, anon.size());
  if (s.rfind("void ", 0) == 0) s.erase(0, 5);
  return s;
}

}  // namespace lrkv
