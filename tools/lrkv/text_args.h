// Options selecting evaluation/calibration text, shared by subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include "io/text_source.h"

namespace lrkv::cli {

// Adds --text (required or not), --field, --split-paragraphs, --docs to `cmd`.
inline void add_text_options(CLI::App* cmd, TextSourceOptions* t, bool required, const std::string& what) {
  auto* o = cmd->add_option("--text", t->path, what + ": .txt or .jsonl (one {\"text\": ...} per line)");
  if (required) o->required();
  cmd->add_option("--field", t->jsonl_field, "JSON field holding the text (.jsonl)")->capture_default_str();
  cmd->add_flag("--split-paragraphs", t->split_paragraphs,
                "Treat blank-line separated blocks of a .txt as documents (each gets a BOS)");
  cmd->add_option("--docs", t->range, "Documents to use, A:B by index or percentage (e.g. 0:1800, 0%:90%)");
}

}  // namespace lrkv::cli
