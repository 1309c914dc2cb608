// report.md: the eval report as Markdown tables (summary: method x budget -> kept fraction, KV
// bytes/token, ppl, KL, top-1 agreement, mean task accuracy, passkey, tokens/s; per-task
// accuracies; passkey by length), the settings, and links to the plots.
#pragma once

#include <string>
#include <vector>

#include "eval/report/report_data.h"
#include "eval/report/report_plots.h"

namespace lrkv {

std::string render_report_markdown(const Report& r, const std::vector<PlotFile>& plots);

}  // namespace lrkv
