#include "report/plot.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/error.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class PlotTest : public ::testing::Test {
 protected:
  void TearDown() override { fs::remove_all(dir_); }

  static bool is_png(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    char head[8] = {};
    in.read(head, 8);
    return in && std::string(head, 8) == std::string("\x89PNG\r\n\x1a\n", 8);
  }
  // Only the PNG: gnuplot's temporary output must be gone.
  std::size_t file_count() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

// A learning curve: mean KL with a band, a reference line, log axes.
PlotSpec learning_curve() {
  std::vector<double> epoch, kl, lo, hi;
  for (int i = 1; i <= 50; ++i) {
    epoch.push_back(10.0 * i);
    kl.push_back(0.05 + 1.0 / i + 0.001 * i);
    lo.push_back(kl.back() * 0.9);
    hi.push_back(kl.back() * 1.1);
  }
  PlotSpec spec;
  spec.title = "KL to the target (σ = 25)";
  spec.xlabel = "epoch";
  spec.ylabel = "KL";
  spec.logx = spec.logy = true;
  spec.series.push_back(Series::band("± 2 s.e.", epoch, lo, hi));
  spec.series.push_back(Series::line("mean over seeds", epoch, kl));
  spec.series.push_back(Series::points("seed 0", epoch, kl));
  spec.series.push_back(Series::hline("population optimum", 0.05));
  return spec;
}

TEST_F(PlotTest, RendersAPng) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot is not installed";
  const fs::path png = dir_ / "plots" / "kl.png";
  render_png(learning_curve(), png);
  EXPECT_TRUE(is_png(png));
  EXPECT_GT(fs::file_size(png), 1000u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "plots"), fs::directory_iterator()), 1);
}

TEST_F(PlotTest, RendersAPanelGrid) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot is not installed";
  PanelGrid grid;
  grid.title = "learned density over the target";
  grid.rows = 2;
  grid.cols = 2;
  for (int epoch : {0, 100, 500, 2000}) {
    std::vector<double> x, target, learned;
    for (int i = 0; i <= 200; ++i) {
      const double xi = -4.0 + 0.04 * i;
      x.push_back(xi);
      target.push_back(0.5 * (std::exp(-0.5 * (xi - 1.5) * (xi - 1.5)) + std::exp(-0.5 * (xi + 1.5) * (xi + 1.5))) /
                       std::sqrt(2 * M_PI));
      const double w = 1.0 / (1.0 + epoch / 100.0);
      learned.push_back((1 - w) * target.back() + w * std::exp(-0.5 * xi * xi / 4) / std::sqrt(8 * M_PI));
    }
    PlotSpec panel;
    panel.title = "epoch " + std::to_string(epoch);
    panel.xlabel = "x";
    panel.ylabel = "density";
    panel.series.push_back(Series::line("target", x, target));
    panel.series.push_back(Series::line("learned", x, learned));
    panel.series.back().dashed = true;
    if (epoch == 500) panel.xrange = std::make_pair(-3.0, 3.0);  // a fixed range between autoscaled panels
    grid.panels.push_back(panel);
  }
  const fs::path png = dir_ / "density.png";
  render_png(grid, png);
  EXPECT_TRUE(is_png(png));
  EXPECT_EQ(file_count(), 1u);
}

TEST_F(PlotTest, EmptyPanelStillRenders) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot is not installed";
  PlotSpec spec;
  spec.title = "nothing yet";
  spec.logy = true;
  spec.series.push_back(Series::line("empty", {}, {}));
  render_png(spec, dir_ / "empty.png");
  EXPECT_TRUE(is_png(dir_ / "empty.png"));
}

TEST_F(PlotTest, GnuplotFailureIsReportedWithItsMessage) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot is not installed";
  PlotSpec spec;
  spec.series.push_back(Series::line("all undefined", {1.0, 2.0}, {std::nan(""), std::nan("")}));
  try {
    render_png(spec, dir_ / "bad.png");
    FAIL() << "expected diffgen::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_THAT(e.what(), HasSubstr("gnuplot failed"));
    EXPECT_THAT(e.what(), HasSubstr("undefined"));  // gnuplot's own message
  }
  EXPECT_EQ(file_count(), 0u);  // no partial PNG
}

TEST_F(PlotTest, MissingGnuplotIsReportedClearly) {
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ::setenv("PATH", dir_.c_str(), 1);
  EXPECT_FALSE(gnuplot_available());
  try {
    render_png(learning_curve(), dir_ / "kl.png");
    ADD_FAILURE() << "expected diffgen::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("gnuplot program is not installed"));
  }
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(file_count(), 0u);
}

TEST(PlotScript, DescribesTheSeries) {
  const std::string script = gnuplot_script(learning_curve(), "out.png");
  EXPECT_THAT(script, HasSubstr("set terminal pngcairo size 800,600"));
  EXPECT_THAT(script, HasSubstr("set logscale x\nset logscale y\n"));
  EXPECT_THAT(script, HasSubstr("set title 'KL to the target (σ = 25)'"));
  EXPECT_THAT(script, HasSubstr("with filledcurves"));
  EXPECT_THAT(script, HasSubstr("0.05 with lines"));
  EXPECT_THAT(script, HasSubstr("title 'population optimum'"));
  // The band takes the colour of the line after it.
  EXPECT_THAT(script, HasSubstr("fillcolor rgb '#1f77b4'"));
  EXPECT_THAT(script, HasSubstr("with lines lw 2 lc rgb '#1f77b4'"));
  // Bands are drawn first, behind the lines.
  EXPECT_LT(script.find("filledcurves"), script.find("with lines lw 2"));
  EXPECT_THAT(script, HasSubstr("set xrange [*:*]\nset yrange [*:*]\nset autoscale xfix\n"));
  PlotSpec ranged = learning_curve();
  ranged.xrange = std::make_pair(1.0, 1000.0);
  ranged.yrange = std::make_pair(1e-3, 10.0);
  EXPECT_THAT(gnuplot_script(ranged, "o.png"),
              AllOf(HasSubstr("set xrange [1:1000]\nset yrange [0.001:10]\n"), Not(HasSubstr("xfix"))));
  PlotSpec quoted;
  quoted.title = "it's";
  EXPECT_THAT(gnuplot_script(quoted, "o.png"), HasSubstr("set title 'it''s'"));
}

TEST(PlotScript, RejectsMalformedSpecs) {
  PlotSpec spec;
  spec.series.push_back(Series::line("bad", {1, 2, 3}, {1, 2}));
  EXPECT_THROW(gnuplot_script(spec, "o.png"), std::invalid_argument);
  PlotSpec log_range;
  log_range.logx = true;
  log_range.xrange = std::make_pair(0.0, 1.0);
  EXPECT_THROW(gnuplot_script(log_range, "o.png"), std::invalid_argument);
  PanelGrid grid;
  grid.rows = grid.cols = 1;
  grid.panels.resize(2);
  EXPECT_THROW(gnuplot_script(grid, "o.png"), std::invalid_argument);
}

}  // namespace
}  // namespace diffgen
