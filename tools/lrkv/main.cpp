// lrkv: command-line entry point. Each subcommand lives in cmd_<name>.cpp and registers itself
// through register_<name>(CLI::App&). Exit codes: 0 ok, 1 internal error, 2 bad input/usage.
#include <CLI/CLI.hpp>

#include "commands.h"
#include "core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"lrkv: low-rank KV-cache compression for Llama-family models"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  lrkv::cli::register_all(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return lrkv::cli::exit_code();
}
