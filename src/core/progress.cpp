#include "core/progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace diffgen {
namespace {

constexpr std::int64_t kRedrawIntervalNs = 100'000'000;  // at most ~10 redraws a second
constexpr int kDefaultWidth = 80;
constexpr int kMaxBarWidth = 30;
constexpr int kMinBarWidth = 10;

// Columns taken by UTF-8 text: one per code point (continuation bytes are free).
int columns(std::string_view s) {
  int n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The longest prefix of `s` that fits in `width` columns, cut between code points.
std::string_view fit(std::string_view s, int width) {
  int n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n++ == width) return s.substr(0, i);
  }
  return s;
}

std::string format_duration(double seconds) {
  const auto s = static_cast<std::int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string format_rate(double per_second) {
  if (!(per_second > 0) || !std::isfinite(per_second)) return "-/s";
  if (per_second >= 1e6) return fmt::format("{:.3g}M/s", per_second / 1e6);
  if (per_second >= 1e3) return fmt::format("{:.3g}k/s", per_second / 1e3);
  if (per_second >= 1) return fmt::format("{:.3g}/s", per_second);
  return fmt::format("{:.3g}s/it", 1.0 / per_second);
}

int terminal_width(std::FILE* stream) {
  winsize ws{};
  if (::ioctl(::fileno(stream), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return kDefaultWidth;
}

std::int64_t now_ns(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::string format_progress_line(std::string_view label, std::int64_t done, std::int64_t total, double elapsed_s,
                                 std::string_view status, int width, bool complete) {
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  std::string info;
  if (total > 0) {
    const double percent = 100.0 * static_cast<double>(std::min(done, total)) / static_cast<double>(total);
    info = fmt::format("{}/{} {:3.0f}% {}", done, total, std::floor(percent), format_rate(rate));
    if (complete) {
      info += " in " + format_duration(elapsed_s);
    } else if (rate > 0) {
      info += " ETA " + format_duration(static_cast<double>(std::max<std::int64_t>(0, total - done)) / rate);
    } else {
      info += " ETA -:--";
    }
  } else {
    info = fmt::format("{} {}", done, format_rate(rate));
    if (complete) info += " in " + format_duration(elapsed_s);
  }
  std::string tail = info;
  if (!status.empty()) tail += fmt::format("  {}", status);

  // Leave the last column free: writing into it makes some terminals wrap.
  const int usable = std::max(1, width - 1);
  std::string line(label);
  if (!line.empty()) line += ' ';
  const int bar_room = usable - columns(line) - columns(tail) - 3;  // "[" "]" " "
  if (total > 0 && bar_room >= kMinBarWidth) {
    const int bar_width = std::min(bar_room, kMaxBarWidth);
    const auto filled = static_cast<int>(static_cast<double>(bar_width) * static_cast<double>(std::min(done, total)) /
                                         static_cast<double>(total));
    line += '[' + std::string(filled, '#') + std::string(bar_width - filled, '-') + "] ";
  }
  line += tail;
  std::string fitted(fit(line, usable));
  fitted.erase(fitted.find_last_not_of(' ') + 1);
  return fitted;
}

ProgressBar::ProgressBar(std::string label, std::int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()) {
  if (enabled && ::isatty(STDERR_FILENO)) stream_ = stderr;
  if (stream_) {
    std::lock_guard<std::mutex> lock(mutex_);
    draw(false);
  }
}

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::FILE* stream, int width)
    : label_(std::move(label)),
      total_(total),
      stream_(stream),
      fixed_width_(std::max(1, width)),
      start_(std::chrono::steady_clock::now()) {
  if (stream_) {
    std::lock_guard<std::mutex> lock(mutex_);
    draw(false);
  }
}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::add(std::int64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  maybe_draw();
}

void ProgressBar::set_done(std::int64_t done) {
  done_.store(done, std::memory_order_relaxed);
  maybe_draw();
}

void ProgressBar::set_status(std::string status) {
  if (!stream_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = std::move(status);
  }
  maybe_draw();
}

void ProgressBar::finish() {
  if (!stream_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  draw(true);
  finished_ = true;
}

void ProgressBar::maybe_draw() {
  if (!stream_) return;
  // Cheap check first: most increments come well within the redraw interval.
  const std::int64_t now = now_ns(start_);
  std::int64_t last = last_draw_ns_.load(std::memory_order_relaxed);
  if (now - last < kRedrawIntervalNs) return;
  if (!last_draw_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;  // another thread draws
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  draw(false);
}

void ProgressBar::draw(bool final_line) {
  const double elapsed = static_cast<double>(now_ns(start_)) * 1e-9;
  const int width = fixed_width_ > 0 ? fixed_width_ : terminal_width(stream_);
  const std::int64_t done = done_.load(std::memory_order_relaxed);
  const bool complete = final_line && (total_ <= 0 || done >= total_);
  const std::string line = format_progress_line(label_, done, total_, elapsed, status_, width, complete);
  // '\r' returns to the line start; ESC[K clears what a longer previous line left.
  std::fputs(fmt::format("\r{}\x1b[K{}", line, final_line ? "\n" : "").c_str(), stream_);
  std::fflush(stream_);
}

}  // namespace diffgen
