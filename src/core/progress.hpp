// A one-line progress bar on stderr for long loops (epochs, seeds, sweep
// points). It draws only when stderr is a terminal and the caller allows it
// (RunOptions::progress), so logs and pipes stay clean; increments are
// thread-safe and cheap, and the line is redrawn at most ten times a second.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace diffgen {

class ProgressBar {
 public:
  // Draws on stderr when `enabled` and stderr is a terminal; silent otherwise.
  // total <= 0 means unknown: the count and rate are shown without a bar.
  ProgressBar(std::string label, std::int64_t total, bool enabled = true);
  // Always draws to `stream`, `width` columns wide (tests; other terminals).
  ProgressBar(std::string label, std::int64_t total, std::FILE* stream, int width);
  // Ends the line if finish() was not called (e.g. during an exception), so
  // the next message starts on a fresh line.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Adds n completed units; safe from any thread.
  void add(std::int64_t n = 1);
  // Sets the completed count (for loops that know it); safe from any thread.
  void set_done(std::int64_t done);
  // A short text after the numbers, e.g. "KL 0.0123"; safe from any thread.
  void set_status(std::string status);
  // Draws the final state and ends the line. Idempotent.
  void finish();

  bool active() const { return stream_ != nullptr; }
  std::int64_t done() const { return done_.load(std::memory_order_relaxed); }

 private:
  void maybe_draw();
  void draw(bool final_line);  // requires mutex_

  std::string label_;
  std::int64_t total_;
  std::FILE* stream_ = nullptr;  // nullptr: silent
  int fixed_width_ = 0;          // 0: ask the terminal
  std::chrono::steady_clock::time_point start_;
  std::atomic<std::int64_t> done_{0};
  std::atomic<std::int64_t> last_draw_ns_{0};
  std::mutex mutex_;  // guards status_, finished_ and the stream
  std::string status_;
  bool finished_ = false;
};

// The text of one progress line, at most `width` columns: label, bar,
// done/total, percent, rate, ETA (or the elapsed time once complete), status.
std::string format_progress_line(std::string_view label, std::int64_t done, std::int64_t total, double elapsed_s,
                                 std::string_view status, int width, bool complete = false);

}  // namespace diffgen
