// Progress bar on stderr for long work: "label [=====>    ] 42/100 1.2 it/s ETA 0:48".
// Redraws in place on a terminal; on a pipe prints a line at most every 10% (or 30 s).
// Silent when the log level is above info. Not thread-safe: update from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lrkv {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it");
  ~Progress();
  void add(int64_t n = 1);
  void set(int64_t done);
  // Work done before this run (e.g. resumed from a checkpoint): counted as done, not in the rate.
  void skip(int64_t done);
  // e.g. "loss 2.31"; finish() redraws when the note changed after the last drawn line, so the
  // closing line always shows the final value.
  void set_note(std::string note) {
    note_changed_ = note_changed_ || note != note_;
    note_ = std::move(note);
  }
  void finish();
  void disable() { enabled_ = false; }

 private:
  void draw(bool final);
  std::string label_, unit_, note_;
  int64_t total_, done_ = 0, base_ = 0;
  bool tty_, finished_ = false, enabled_, note_changed_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_decile_ = -1;
  int64_t last_drawn_ = -1;
};

std::string format_duration(double seconds);  // "1:02:03" or "2:03"

}  // namespace lrkv
