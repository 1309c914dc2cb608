#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "core/log.h"

namespace lrkv {

std::string format_duration(double seconds) {
  int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(std::max<int64_t>(total, 1)),
      tty_(::isatty(2) != 0), enabled_(log_level() <= LogLevel::kInfo),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::add(int64_t n) { set(done_ + n); }

void Progress::skip(int64_t done) {
  base_ = std::min(std::max<int64_t>(done, 0), total_);
  done_ = std::max(done_, base_);
}

void Progress::set(int64_t done) {
  done_ = std::min(done, total_);
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  const int decile = static_cast<int>(10 * done_ / total_);
  if (tty_ ? since > 0.1 : (decile != last_decile_ || since > 30.0)) {
    last_decile_ = decile;
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_ && done_ > 0 && (tty_ || last_drawn_ != done_ || note_changed_)) draw(true);
}

void Progress::draw(bool final) {
  last_drawn_ = done_;
  note_changed_ = false;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? (done_ - base_) / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
  constexpr int kWidth = 24;
  const int fill = static_cast<int>(kWidth * done_ / total_);
  std::string bar(fill, '=');
  if (fill < kWidth) bar += '>' + std::string(kWidth - fill - 1, ' ');
  std::string line = fmt::format("{} [{}] {}/{} {:.1f} {}/s {} {}", label_, bar, done_, total_, rate,
                                 unit_, final ? "in " + format_duration(elapsed)
                                              : "ETA " + format_duration(eta),
                                 note_);
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace lrkv
