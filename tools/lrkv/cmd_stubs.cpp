// TEMPORARY: subcommands not written yet.
#include "commands.h"
namespace lrkv::cli {
void register_info(CLI::App&) {}
void register_generate(CLI::App&) {}
void register_perplexity(CLI::App&) {}
void register_convert(CLI::App&) {}
void register_synth(CLI::App&) {}
}  // namespace lrkv::cli
