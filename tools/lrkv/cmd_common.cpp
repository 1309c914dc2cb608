#include <cstdio>

#include "commands.h"

namespace lrkv::cli {

namespace {
int g_exit_code = 0;
}

int exit_code() { return g_exit_code; }

void finish(const Status& status) {
  if (status.ok()) return;
  std::fprintf(stderr, "lrkv: error: %s\n", status.to_string().c_str());
  g_exit_code = status.code() == ErrorCode::kInternal ? 1 : 2;
}

void register_all(CLI::App& app) {
  register_info(app);
  register_generate(app);
  register_perplexity(app);
  register_convert(app);
  register_synth(app);
  register_calibrate(app);
  register_compress(app);
  register_plan(app);
  register_tune(app);
  register_convert_gqa(app);
  register_eval(app);
  register_bench(app);
#ifdef LRKV_HAVE_SERVE
  register_serve(app);
  register_bench_serve(app);
#endif
}

}  // namespace lrkv::cli
