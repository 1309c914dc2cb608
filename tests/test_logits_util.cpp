// logits_of (test_util.h): the one helper that runs the engine, kept apart from test_util.cpp so
// that the sanitizer input tests (cmake/fuzz.cmake) link test_util without the engine.
#include "model/cpu_engine.h"
#include "test_util.h"

namespace lrkv::test {

std::vector<float> logits_of(const Model& m, const std::vector<int>& tokens, const KvCacheSpec& spec) {
  CpuEngine engine(m);
  EXPECT_TRUE(engine.status().ok()) << engine.status().to_string();
  auto cache = engine.make_cache(1, static_cast<int>(tokens.size()), spec);
  EXPECT_TRUE(cache.ok()) << cache.status().to_string();
  if (!cache.ok()) return {};
  std::vector<float> out;
  Status s = engine.forward({{0, tokens.data(), static_cast<int>(tokens.size())}}, **cache, LogitsMode::kAll, &out);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

}  // namespace lrkv::test
