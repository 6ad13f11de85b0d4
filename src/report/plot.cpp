#include "report/plot.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "core/error.hpp"

extern char** environ;

namespace diffgen {
namespace {

namespace fs = std::filesystem;

// matplotlib's "tab10": distinguishable, and readable by most colour-blind viewers.
constexpr std::array<const char*, 10> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr const char* kReferenceColor = "#555555";
constexpr double kBandOpacity = 0.25;
constexpr double kLegendLine = 0.07;  // legend entry height, as a fraction of the plot
constexpr int kPanelWidth = 480;
constexpr int kPanelHeight = 360;
constexpr std::string_view kPngSignature = "\x89PNG\r\n\x1a\n";

std::atomic<unsigned> g_temp_counter{0};

// A gnuplot single-quoted string: no escapes except '' for a quote.
std::string quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "''";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string number(double x) {
  return std::isfinite(x) ? fmt::format("{}", x) : "NaN";
}

bool line_like(SeriesKind kind) {
  return kind == SeriesKind::Line || kind == SeriesKind::Points || kind == SeriesKind::LinePoints;
}

bool has_data(const Series& s) {
  return s.kind == SeriesKind::HLine || !s.x.empty();
}

void validate(const PlotSpec& spec, std::string_view where) {
  for (std::size_t i = 0; i < spec.series.size(); ++i) {
    const Series& s = spec.series[i];
    const auto fail = [&](std::string_view why) {
      throw std::invalid_argument(fmt::format("{}: series {} ('{}'): {}", where, i, s.label, why));
    };
    if (line_like(s.kind) && s.x.size() != s.y.size()) {
      fail(fmt::format("x has {} values but y has {}", s.x.size(), s.y.size()));
    }
    if (s.kind == SeriesKind::Band && (s.lo.size() != s.x.size() || s.hi.size() != s.x.size())) {
      fail(fmt::format("x, lo and hi have {}, {} and {} values", s.x.size(), s.lo.size(), s.hi.size()));
    }
    if (s.kind == SeriesKind::HLine && !std::isfinite(s.level)) fail("the level is not finite");
    if (!(s.line_width > 0)) fail("the line width must be positive");
  }
  const auto check_range = [&](const auto& range, std::string_view axis, bool log) {
    if (!range) return;
    if (!std::isfinite(range->first) || !std::isfinite(range->second) || !(range->first < range->second)) {
      throw std::invalid_argument(fmt::format("{}: {} range must be finite and increasing", where, axis));
    }
    if (log && range->first <= 0) {
      throw std::invalid_argument(fmt::format("{}: a log {} axis needs a positive range", where, axis));
    }
  };
  check_range(spec.xrange, "x", spec.logx);
  check_range(spec.yrange, "y", spec.logy);
}

// Colours for one panel's series, by the rules documented on Series::color.
std::vector<std::string> series_colors(const PlotSpec& spec) {
  const std::size_t n = spec.series.size();
  std::vector<std::string> colors(n);
  std::size_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Series& s = spec.series[i];
    if (!s.color.empty()) {
      colors[i] = s.color;
    } else if (line_like(s.kind)) {
      colors[i] = kPalette[next++ % kPalette.size()];
    } else if (s.kind == SeriesKind::HLine) {
      colors[i] = kReferenceColor;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (spec.series[i].kind != SeriesKind::Band || !colors[i].empty()) continue;
    for (std::size_t j = i + 1; j < n && colors[i].empty(); ++j) {
      if (line_like(spec.series[j].kind)) colors[i] = colors[j];
    }
    if (colors[i].empty()) colors[i] = kPalette[next++ % kPalette.size()];
  }
  return colors;
}

std::string block_name(std::size_t panel, std::size_t series) {
  return fmt::format("$p{}s{}", panel, series);
}

// Inline data blocks (gnuplot 5), so no data files need cleaning up.
std::string data_blocks(const PlotSpec& spec, std::size_t panel) {
  std::string out;
  for (std::size_t i = 0; i < spec.series.size(); ++i) {
    const Series& s = spec.series[i];
    if (s.kind == SeriesKind::HLine || !has_data(s)) continue;
    out += block_name(panel, i) + " << EOD\n";
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (s.kind == SeriesKind::Band) {
        out += fmt::format("{} {} {}\n", number(s.x[k]), number(s.lo[k]), number(s.hi[k]));
      } else {
        out += fmt::format("{} {}\n", number(s.x[k]), number(s.y[k]));
      }
    }
    out += "EOD\n";
  }
  return out;
}

std::string title_clause(const Series& s) {
  return s.label.empty() ? "notitle" : "title " + quote(s.label);
}

std::string plot_element(const Series& s, const std::string& color, const std::string& block) {
  const std::string dash = s.dashed ? " dt 2" : "";
  const std::string lc = " lc rgb " + quote(color);
  switch (s.kind) {
    case SeriesKind::Line:
      return fmt::format("{} using 1:2 with lines lw {}{}{} {}", block, s.line_width, lc, dash, title_clause(s));
    case SeriesKind::Points:
      return fmt::format("{} using 1:2 with points pt 7 ps 0.8{} {}", block, lc, title_clause(s));
    case SeriesKind::LinePoints:
      return fmt::format("{} using 1:2 with linespoints lw {} pt 7 ps 0.6{}{} {}", block, s.line_width, lc, dash,
                         title_clause(s));
    case SeriesKind::Band:
      return fmt::format("{} using 1:2:3 with filledcurves fillcolor rgb {} fillstyle transparent solid {} noborder {}",
                         block, quote(color), kBandOpacity, title_clause(s));
    case SeriesKind::HLine:
      return fmt::format("{} with lines lw {}{} dt 2 {}", number(s.level), s.line_width, lc, title_clause(s));
  }
  return "";
}

std::string range_text(const std::optional<std::pair<double, double>>& range) {
  return range ? fmt::format("[{}:{}]", number(range->first), number(range->second)) : "[*:*]";
}

// Settings and the plot command of one panel. Every setting is written
// explicitly, so a panel of a multiplot inherits nothing from the one before.
std::string panel_commands(const PlotSpec& spec, std::size_t panel) {
  std::string out;
  out += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n", quote(spec.title), quote(spec.xlabel),
                     quote(spec.ylabel));
  out += "unset logscale\n";
  if (spec.logx) out += "set logscale x\n";
  if (spec.logy) out += "set logscale y\n";
  out += fmt::format("set xrange {}\nset yrange {}\n", range_text(spec.xrange), range_text(spec.yrange));
  // The x axis ends at the data (not the next tic), so curves and reference
  // lines span the whole frame.
  if (!spec.xrange) out += "set autoscale xfix\n";
  out += spec.key == "off" ? "unset key\n" : fmt::format("set key {}\n", spec.key);
  // Head room above autoscaled data for a legend at the top, so it does not
  // cover the curves: about one text line per entry.
  const auto entries = std::count_if(spec.series.begin(), spec.series.end(),
                                     [](const Series& s) { return !s.label.empty() && has_data(s); });
  const bool key_on_top =
      spec.key != "off" && spec.key.find("top") != std::string::npos && spec.key.find("outside") == std::string::npos;
  const double head_room = key_on_top && !spec.yrange ? std::min(0.5, kLegendLine * static_cast<double>(entries)) : 0.0;
  out += fmt::format("set offsets 0, 0, graph {}, 0\n", head_room);
  out += "set grid\n";

  const auto colors = series_colors(spec);
  std::vector<std::string> elements;
  // Bands first, so lines are drawn over them.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < spec.series.size(); ++i) {
      const Series& s = spec.series[i];
      if ((s.kind == SeriesKind::Band) != (pass == 0) || !has_data(s)) continue;
      elements.push_back(plot_element(s, colors[i], block_name(panel, i)));
    }
  }
  if (elements.empty()) {
    // gnuplot refuses to plot nothing; draw an empty, labelled frame instead.
    out += "unset logscale\nset label 1 'no data' at graph 0.5, graph 0.5 center\n";
    out += "plot [0:1] [0:1] NaN notitle\nunset label 1\n";
    return out;
  }
  out += "plot ";
  for (std::size_t i = 0; i < elements.size(); ++i) out += (i > 0 ? ", \\\n     " : "") + elements[i];
  out += '\n';
  return out;
}

std::string header(int width, int height, const fs::path& png) {
  return fmt::format("set terminal pngcairo size {},{} noenhanced font 'sans,11'\nset encoding utf8\nset output {}\n",
                     width, height, quote(png.string()));
}

struct TempFile {
  std::string path;
  ~TempFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

// A new empty file in the temporary folder; its fd is returned open. Its name
// carries our pid (diffgen-STEM-PID-XXXXXX), so that a later run can remove
// the files of a run that was killed before it could (remove_stale_plot_scripts).
int make_temp(TempFile& file, std::string_view stem) {
  std::string pattern = (fs::temp_directory_path() / fmt::format("diffgen-{}-{}-XXXXXX", stem, ::getpid())).string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) throw Error(fmt::format("cannot create a temporary file for gnuplot: {}", std::strerror(errno)), 1);
  file.path = pattern;
  return fd;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Starts `gnuplot SCRIPT` with its output into log_fd. fork and exec rather
// than posix_spawn, so that the child can ask the kernel to kill it when we
// die (PR_SET_PDEATHSIG): a killed run must not leave gnuplot running. Only
// async-signal-safe calls between fork and exec. Returns 0 or the errno of the
// failed start (ENOENT: gnuplot is not installed), sent back through a pipe.
int spawn_gnuplot(const std::string& script_path, int log_fd, pid_t* child) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return errno;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return err;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    const int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) ::dup2(in, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    char program[] = "gnuplot";
    char* argv[] = {program, const_cast<char*>(script_path.c_str()), nullptr};
    ::execvp("gnuplot", argv);
    const int err = errno;
    [[maybe_unused]] const ssize_t n = ::write(report[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(report[1]);
  int err = 0;
  ssize_t n = 0;
  while ((n = ::read(report[0], &err, sizeof err)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  *child = pid;
  if (n == static_cast<ssize_t>(sizeof err)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return err;
  }
  return 0;
}

void run_gnuplot(const std::string& script_text, const fs::path& png) {
  TempFile script, log;
  const int script_fd = make_temp(script, "plot");
  const bool wrote =
      ::write(script_fd, script_text.data(), script_text.size()) == static_cast<ssize_t>(script_text.size());
  ::close(script_fd);
  if (!wrote) throw Error(fmt::format("cannot write the gnuplot script for '{}'", png.string()), 1);
  const int log_fd = make_temp(log, "gnuplot-log");

  pid_t pid = 0;
  const int spawn_error = spawn_gnuplot(script.path, log_fd, &pid);
  ::close(log_fd);
  if (spawn_error == ENOENT) {
    throw Error(fmt::format("cannot draw '{}': the gnuplot program is not installed (not found on PATH); "
                            "install gnuplot (Debian: gnuplot-nox) to get plots",
                            png.string()),
                1);
  }
  if (spawn_error != 0) {
    throw Error(fmt::format("cannot draw '{}': starting gnuplot failed: {}", png.string(), std::strerror(spawn_error)),
                1);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(fmt::format("waiting for gnuplot failed: {}", std::strerror(errno)), 1);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string messages = read_all(log.path);
    constexpr std::size_t kMaxMessage = 4000;
    if (messages.size() > kMaxMessage) messages = "..." + messages.substr(messages.size() - kMaxMessage);
    while (!messages.empty() && (messages.back() == '\n' || messages.back() == ' ')) messages.pop_back();
    const std::string how = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                              : fmt::format("signal {}", WTERMSIG(status));
    throw Error(fmt::format("gnuplot failed drawing '{}' ({}):\n{}", png.string(), how, messages), 1);
  }
}

void render(const std::string& script_for_temp_png, const fs::path& temp_png, const fs::path& png) {
  TempFile cleanup{temp_png.string()};
  run_gnuplot(script_for_temp_png, png);
  std::ifstream in(temp_png, std::ios::binary);
  std::string signature(kPngSignature.size(), '\0');
  if (!in || !in.read(signature.data(), static_cast<std::streamsize>(signature.size())) || signature != kPngSignature) {
    throw Error(fmt::format("gnuplot reported success but wrote no valid PNG for '{}'", png.string()), 1);
  }
  in.close();
  if (::rename(temp_png.c_str(), png.c_str()) != 0) {
    throw Error(fmt::format("cannot write '{}': {}", png.string(), std::strerror(errno)), 1);
  }
  cleanup.path.clear();
}

// gnuplot draws to a temporary name beside the target; the rename publishes
// only a complete PNG.
fs::path temp_png_for(const fs::path& png) {
  fs::path parent = png.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec)
    throw Error(fmt::format("cannot create folder '{}' for '{}': {}", parent.string(), png.string(), ec.message()), 1);
  return parent / fmt::format(".{}.tmp.{}.{}.png", png.filename().string(), ::getpid(), g_temp_counter++);
}

}  // namespace

Series Series::line(std::string label, std::vector<double> x, std::vector<double> y) {
  Series s;
  s.kind = SeriesKind::Line;
  s.label = std::move(label);
  s.x = std::move(x);
  s.y = std::move(y);
  return s;
}

Series Series::points(std::string label, std::vector<double> x, std::vector<double> y) {
  Series s = line(std::move(label), std::move(x), std::move(y));
  s.kind = SeriesKind::Points;
  return s;
}

Series Series::line_points(std::string label, std::vector<double> x, std::vector<double> y) {
  Series s = line(std::move(label), std::move(x), std::move(y));
  s.kind = SeriesKind::LinePoints;
  return s;
}

Series Series::band(std::string label, std::vector<double> x, std::vector<double> lo, std::vector<double> hi) {
  Series s;
  s.kind = SeriesKind::Band;
  s.label = std::move(label);
  s.x = std::move(x);
  s.lo = std::move(lo);
  s.hi = std::move(hi);
  return s;
}

Series Series::hline(std::string label, double level) {
  Series s;
  s.kind = SeriesKind::HLine;
  s.label = std::move(label);
  s.level = level;
  s.line_width = 1.5;  // thinner than the data it is compared with
  return s;
}

std::string gnuplot_script(const PlotSpec& spec, const fs::path& png) {
  validate(spec, "plot '" + spec.title + "'");
  if (spec.width <= 0 || spec.height <= 0) throw std::invalid_argument("plot size must be positive");
  return header(spec.width, spec.height, png) + data_blocks(spec, 0) + panel_commands(spec, 0) + "unset output\n";
}

std::string gnuplot_script(const PanelGrid& grid, const fs::path& png) {
  if (grid.rows < 1 || grid.cols < 1) throw std::invalid_argument("a panel grid needs at least one row and column");
  if (grid.panels.size() > static_cast<std::size_t>(grid.rows) * static_cast<std::size_t>(grid.cols)) {
    throw std::invalid_argument(
        fmt::format("{} panels do not fit a {}x{} grid", grid.panels.size(), grid.rows, grid.cols));
  }
  for (std::size_t p = 0; p < grid.panels.size(); ++p) {
    validate(grid.panels[p], fmt::format("panel {} ('{}')", p, grid.panels[p].title));
  }
  const int width = grid.width > 0 ? grid.width : kPanelWidth * grid.cols;
  const int height = grid.height > 0 ? grid.height : kPanelHeight * grid.rows;
  std::string out = header(width, height, png);
  for (std::size_t p = 0; p < grid.panels.size(); ++p) out += data_blocks(grid.panels[p], p);
  out += fmt::format("set multiplot layout {},{} rowsfirst", grid.rows, grid.cols);
  out += grid.title.empty() ? "\n" : " title " + quote(grid.title) + "\n";
  for (std::size_t p = 0; p < grid.panels.size(); ++p) out += panel_commands(grid.panels[p], p);
  out += "unset multiplot\nunset output\n";
  return out;
}

void render_png(const PlotSpec& spec, const fs::path& png) {
  const fs::path temp = temp_png_for(png);
  render(gnuplot_script(spec, temp), temp, png);
}

void render_png(const PanelGrid& grid, const fs::path& png) {
  const fs::path temp = temp_png_for(png);
  render(gnuplot_script(grid, temp), temp, png);
}

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string_view dirs(path);
  while (true) {
    const auto colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    const fs::path candidate = fs::path(dir.empty() ? "." : std::string(dir)) / "gnuplot";
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    dirs.remove_prefix(colon + 1);
  }
}

void remove_stale_plot_scripts() {
  std::error_code ec;
  static const std::regex kName(R"(diffgen-(plot|gnuplot-log)-([0-9]+)-.{6})");
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(ec), ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, m, kName)) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(m[2].str()));
    // ESRCH: no such process, so nobody is using the file.
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
  }
}

}  // namespace diffgen
