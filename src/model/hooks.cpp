#include "model/hooks.h"

namespace lrkv {

const char* hook_point_name(HookPoint p) {
  static const char* kNames[] = {"attn_input", "kv_input",   "q_pre_rope",  "k_pre_rope",
                                 "q_post_rope", "k_post_rope", "v",          "attn_output",
                                 "ffn_input",  "final_hidden"};
  const int i = static_cast<int>(p);
  return i >= 0 && i < static_cast<int>(HookPoint::kCount) ? kNames[i] : "?";
}

}  // namespace lrkv
