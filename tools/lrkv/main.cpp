// lrkv: command-line entry point. Each subcommand lives in cmd_<name>.cpp and registers itself
// through register_<name>(CLI::App&). Exit codes: 0 ok, 1 internal error, 2 bad input/usage.
// No exception escapes: anything thrown (std::bad_alloc, std::system_error from a thread, ...)
// becomes one line on stderr and exit code 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "commands.h"
#include "core/log.h"
#include "core/thread_pool.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"lrkv: low-rank KV-cache compression for Llama-family models"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  lrkv::cli::register_all(app);
  if (auto env = lrkv::threads_from_env(); !env.ok()) {
    lrkv::cli::finish(env.status());
    return lrkv::cli::exit_code();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return lrkv::cli::exit_code();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lrkv: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "lrkv: error: unknown exception\n");
  }
  return 1;
}
