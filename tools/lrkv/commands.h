// Subcommand registration and shared CLI plumbing.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace lrkv::cli {

void register_all(CLI::App& app);
// Each subcommand sets the process exit code through finish(): 0 ok, 2 bad input, 1 otherwise.
int exit_code();
void finish(const Status& status);

// Register functions, one per cmd_*.cpp.
void register_info(CLI::App& app);
void register_generate(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_convert(CLI::App& app);
void register_synth(CLI::App& app);
void register_calibrate(CLI::App& app);
void register_compress(CLI::App& app);
void register_plan(CLI::App& app);
void register_tune(CLI::App& app);
void register_convert_gqa(CLI::App& app);
void register_eval(CLI::App& app);
void register_bench(CLI::App& app);
void register_serve(CLI::App& app);
void register_bench_serve(CLI::App& app);

}  // namespace lrkv::cli
