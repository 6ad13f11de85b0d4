// Plots as PNG files through gnuplot (the pngcairo terminal). A PlotSpec
// describes one panel as data; render_png writes a gnuplot script with the
// data inline, runs gnuplot, and checks that a PNG came out, so a plot that
// silently failed cannot end up linked from report.md.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace diffgen {

enum class SeriesKind {
  Line,        // y over x, joined
  Points,      // y over x, markers only
  LinePoints,  // joined, with markers
  Band,        // the area between lo and hi over x (e.g. a mean +- 2 standard errors)
  HLine,       // a horizontal reference line at `level`
};

struct Series {
  SeriesKind kind = SeriesKind::Line;
  std::string label;           // legend entry; empty: not in the legend
  std::vector<double> x, y;    // Line, Points, LinePoints
  std::vector<double> lo, hi;  // Band, over x
  double level = 0.0;          // HLine
  // A gnuplot colour ("#1f77b4", "dark-red"). Empty: the next colour of the
  // default palette; a Band takes the colour of the next line or points
  // series after it (so add the band, then its line); an HLine is grey.
  std::string color;
  bool dashed = false;  // HLines are always dashed
  double line_width = 2.0;

  static Series line(std::string label, std::vector<double> x, std::vector<double> y);
  static Series points(std::string label, std::vector<double> x, std::vector<double> y);
  static Series line_points(std::string label, std::vector<double> x, std::vector<double> y);
  static Series band(std::string label, std::vector<double> x, std::vector<double> lo, std::vector<double> hi);
  static Series hline(std::string label, double level);
};

struct PlotSpec {
  std::string title;
  std::string xlabel, ylabel;
  bool logx = false, logy = false;
  std::optional<std::pair<double, double>> xrange, yrange;  // empty: fit the data
  std::string key = "top right";                            // legend placement in gnuplot's words; "off" hides it
  std::vector<Series> series;                               // drawn bands first, then the rest in order
  int width = 800, height = 600;                            // pixels, when rendered on its own
};

// Panels on a rows x cols grid (gnuplot multiplot), filled row by row: for
// example the learned density at epochs 0, 100, 500, 2000 over the target.
struct PanelGrid {
  std::string title;
  int rows = 1, cols = 1;
  std::vector<PlotSpec> panels;  // at most rows * cols; the panels' own sizes are ignored
  int width = 0, height = 0;     // pixels; 0: 480 per column, 360 per row
};

// Writes the PNG (atomically: gnuplot draws to a temporary file beside it).
// Throws std::invalid_argument for a malformed spec (x and y of different
// lengths, ...) and diffgen::Error (exit code 1) when gnuplot is missing,
// fails (its messages are included) or leaves no valid PNG.
void render_png(const PlotSpec& spec, const std::filesystem::path& png);
void render_png(const PanelGrid& grid, const std::filesystem::path& png);

// The gnuplot script render_png runs (for debugging a plot by hand).
std::string gnuplot_script(const PlotSpec& spec, const std::filesystem::path& png);
std::string gnuplot_script(const PanelGrid& grid, const std::filesystem::path& png);

// Whether an executable `gnuplot` is on PATH.
bool gnuplot_available();

// Removes the gnuplot scripts and logs in the temporary folder that a diffgen
// process left behind when it was killed (their names carry its pid; only
// those whose process is gone are removed).
void remove_stale_plot_scripts();

}  // namespace diffgen
