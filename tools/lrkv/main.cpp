// lrkv: command-line entry point. Each subcommand lives in cmd_<name>.cpp and registers itself
// through register_<name>(CLI::App&). Exit codes: 0 ok, 1 internal error, 2 bad input/usage.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "commands.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "kernels/blas_core.h"

namespace {

// A CLI11 usage error as one line, like every other lrkv error: "lrkv: error: MESSAGE".
int usage_error(const CLI::ParseError& e) {
  std::string msg = e.what();
  for (char& c : msg) {
    if (c == '\n') c = ' ';
  }
  while (!msg.empty() && msg.back() == ' ') msg.pop_back();
  std::fprintf(stderr, "lrkv: error: %s (see --help)\n", msg.c_str());
  return 2;
}

bool is_command(CLI::App& app, const std::string& name) {
  try {
    app.get_subcommand(name);
    return true;
  } catch (const CLI::OptionNotFound&) {
    return false;
  }
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"lrkv: low-rank KV-cache compression for Llama-family models"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
#ifdef LRKV_HAVE_CUDA
  app.set_version_flag("--version", LRKV_VERSION_STRING " (CPU and CUDA backends)");
#else
  app.set_version_flag("--version", LRKV_VERSION_STRING " (CPU backend; built without CUDA)");
#endif
  lrkv::cli::register_all(app);
  if (auto env = lrkv::threads_from_env(); !env.ok()) {
    lrkv::cli::finish(env.status());
    return lrkv::cli::exit_code();
  }
  if (argc > 1 && argv[1][0] != '-' && !is_command(app, argv[1])) {
    std::string names;
    for (const CLI::App* c : app.get_subcommands([](CLI::App*) { return true; })) {
      names += (names.empty() ? "" : ", ") + c->get_name();
    }
    std::fprintf(stderr, "lrkv: error: unknown command '%s' (commands: %s)\n", argv[1], names.c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return usage_error(e);
  }
  return lrkv::cli::exit_code();
}

int main(int argc, char** argv) {
  lrkv::cpu::use_the_right_blas_kernels(argv);  // kernels/blas_core.h
  // No exception escapes: anything thrown (std::bad_alloc, std::system_error from a thread, ...)
  // becomes one line on stderr and exit code 1.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lrkv: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "lrkv: error: unknown exception\n");
  }
  return 1;
}
