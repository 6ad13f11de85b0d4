#include "report/run_writer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool is_png(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, 8);
  return in && std::string(head, 8) == std::string("\x89PNG\r\n\x1a\n", 8);
}

class RunWriterTest : public ::testing::Test {
 protected:
  void TearDown() override { fs::remove_all(dir_); }

  TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

PlotSpec good_plot() {
  PlotSpec spec;
  spec.title = "KL over epochs";
  spec.xlabel = "epoch";
  spec.ylabel = "KL";
  spec.series.push_back(Series::line("seed 0", {0, 1, 2, 3}, {1.0, 0.5, 0.25, 0.125}));
  return spec;
}

// x and y of different lengths: render_png refuses it with std::invalid_argument.
PlotSpec bad_plot() {
  PlotSpec spec;
  spec.series.push_back(Series::line("broken", {0, 1, 2}, {1.0, 2.0}));
  return spec;
}

TEST(RenderTemplate, Variables) {
  EXPECT_EQ(render_template("n = {{n}}, name = {{name}}.", Json{{"n", 64}, {"name", "adam"}}), "n = 64, name = adam.");
  // A missing variable renders as nothing.
  EXPECT_EQ(render_template("[{{absent}}]", Json::object()), "[]");
  // Dotted names reach into objects.
  EXPECT_EQ(render_template("{{kl.final}}", Json{{"kl", {{"final", "0.5"}}}}), "0.5");
  EXPECT_EQ(render_template("no tags at all", Json::object()), "no tags at all");
}

TEST(RenderTemplate, NumbersUseTheShortestRoundTripText) {
  const auto render = [](const Json& x) { return render_template("{{x}}", Json{{"x", x}}); };
  EXPECT_EQ(render(0.1), "0.1");
  EXPECT_EQ(render(1e-10), "1e-10");
  EXPECT_EQ(render(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(render(2.5), "2.5");
  EXPECT_EQ(render(-3), "-3");
  EXPECT_EQ(render(std::uint64_t{18446744073709551615ULL}), "18446744073709551615");
  EXPECT_EQ(render(std::int64_t{-9007199254740993LL}), "-9007199254740993");
  EXPECT_EQ(render(1.0 / 3.0), "0.3333333333333333");
}

TEST(RenderTemplate, NothingIsEscaped) {
  EXPECT_EQ(render_template("{{x}}", Json{{"x", "<b>a & \"b\" 'c'</b>"}}), "<b>a & \"b\" 'c'</b>");
  EXPECT_EQ(render_template("{{{x}}}", Json{{"x", "a < b"}}), "a < b");
  EXPECT_EQ(render_template("{{x}}", Json{{"x", "| a | b |\n|---|---|"}}), "| a | b |\n|---|---|");
}

TEST(RenderTemplate, SectionsOverBooleansArraysAndObjects) {
  const std::string t = "{{#show}}shown{{/show}}{{^show}}hidden{{/show}}";
  EXPECT_EQ(render_template(t, Json{{"show", true}}), "shown");
  EXPECT_EQ(render_template(t, Json{{"show", false}}), "hidden");
  EXPECT_EQ(render_template(t, Json{{"show", nullptr}}), "hidden");  // null hides like false
  EXPECT_EQ(render_template(t, Json::object()), "hidden");           // so does a missing key

  // Arrays repeat their section; {{.}} is the element.
  EXPECT_EQ(render_template("{{#xs}}<{{.}}>{{/xs}}", Json{{"xs", {1, 2.5, "three"}}}), "<1><2.5><three>");
  EXPECT_EQ(render_template("{{#rows}}{{seed}}: {{kl}}\n{{/rows}}",
                            Json{{"rows", Json::array({{{"seed", 0}, {"kl", 0.1}}, {{"seed", 1}, {"kl", 1e-10}}})}}),
            "0: 0.1\n1: 1e-10\n");
  // An empty array hides the section and shows its inverse.
  const std::string list = "{{#xs}}x{{/xs}}{{^xs}}none{{/xs}}";
  EXPECT_EQ(render_template(list, Json{{"xs", Json::array()}}), "none");
  EXPECT_EQ(render_template(list, Json{{"xs", {1}}}), "x");

  // An object is a section whose keys come into scope (outer keys stay visible).
  EXPECT_EQ(render_template("{{#fit}}{{slope}} ± {{err}} ({{name}}){{/fit}}",
                            Json{{"name", "rate"}, {"fit", {{"slope", -0.5}, {"err", 0.01}}}}),
            "-0.5 ± 0.01 (rate)");
}

TEST(RenderTemplate, MalformedTemplatesAreInvalidArguments) {
  for (const char* bad : {"{{#a}}never closed", "{{/a}} closed, never opened", "{{#a}}x{{/b}}", "{{unterminated"}) {
    EXPECT_THROW(render_template(bad, Json{{"a", true}}), std::invalid_argument) << bad;
  }
}

TEST_F(RunWriterTest, WritesFilesIntoItsFolder) {
  RunWriter out(dir_ / "run");  // created when missing
  EXPECT_TRUE(fs::is_directory(dir_ / "run"));
  EXPECT_EQ(out.dir(), dir_ / "run");
  CsvTable table({"seed", "kl"});
  table.add_row({0, 0.5});
  out.csv("metrics.csv", table);
  out.json("summary.json", Json{{"kl", 0.25}});
  out.text("notes.txt", "hello\n");
  EXPECT_EQ(read_text(dir_ / "run" / "metrics.csv"), "seed,kl\n0,0.5\n");
  EXPECT_EQ(Json::parse(read_text(dir_ / "run" / "summary.json")), (Json{{"kl", 0.25}}));
  EXPECT_EQ(read_text(dir_ / "run" / "notes.txt"), "hello\n");
  // JSON cannot hold NaN: the error names the file and where the number is.
  try {
    out.json("bad.json", Json{{"seeds", {1.0, std::numeric_limits<double>::quiet_NaN()}}});
    ADD_FAILURE() << "no NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("bad.json"), HasSubstr("/seeds/1")));
  }
}

TEST_F(RunWriterTest, CollectsWarningsTimingTerminalTextAndTheFirstFailure) {
  RunWriter out(dir_);
  out.warn("first");
  out.warn("second");
  out.timing(Json{{"a", 1}, {"b", 2}});
  out.timing(Json{{"b", 3}, {"c", 4}});
  out.terminal("line 1\n");
  out.terminal("line 2\n");
  out.fail("NaN at epoch 3");
  out.fail("a later failure");
  EXPECT_EQ(out.timing(), (Json{{"a", 1}, {"b", 3}, {"c", 4}}));
  const RunWriter::Outcome o = out.outcome();
  EXPECT_EQ(o.terminal, "line 1\nline 2\n");
  EXPECT_THAT(o.warnings, ElementsAre("first", "second"));
  EXPECT_EQ(o.failure, "NaN at epoch 3");
  EXPECT_THAT(o.plots, IsEmpty());
}

TEST_F(RunWriterTest, ReportAddsPlotsWarningsAndPlusMinus) {
  RunWriter out(dir_);
  out.warn("seed 2 diverged");
  out.report(
      "# {{title}}\n"
      "{{#has_plots}}plots:{{#plots}} {{.}}{{/plots}}{{/has_plots}}{{^has_plots}}no plots{{/has_plots}}\n"
      "{{#warnings}}- {{.}}\n{{/warnings}}"
      "{{plus_minus}}\n",
      Json{{"title", "KL <vs> n & d"}});
  EXPECT_EQ(read_text(dir_ / "report.md"),
            std::string("# KL <vs> n & d\nno plots\n- seed 2 diverged\n") + std::string(kPlusMinusMeaning) + "\n");
  // The context's own keys of the same names are replaced.
  out.report("{{plots}}|{{has_plots}}", Json{{"plots", "mine"}, {"has_plots", "mine"}});
  EXPECT_THAT(read_text(dir_ / "report.md"), Not(HasSubstr("mine")));
  EXPECT_THROW(out.report("{{#broken}}", Json::object()), std::invalid_argument);
}

TEST_F(RunWriterTest, APlotThatCannotBeDrawnBecomesAWarningAndTheRestStands) {
  RunWriter out(dir_);
  out.plot("bad", bad_plot());
  PanelGrid grid;
  grid.rows = 1;
  grid.cols = 1;
  grid.panels = {bad_plot(), bad_plot()};  // more panels than cells
  out.plot("bad-grid", grid);
  EXPECT_THAT(out.render_plots(), IsEmpty());
  ASSERT_EQ(out.warnings().size(), 2u);
  EXPECT_THAT(out.warnings()[0], AllOf(HasSubstr("plot bad.png not written"), HasSubstr("x has 3 values but y has 2")));
  EXPECT_THAT(out.warnings()[1], HasSubstr("plot bad-grid.png not written"));
  EXPECT_FALSE(fs::exists(dir_ / "plots" / "bad.png"));
  // The queue is empty once rendered.
  EXPECT_THAT(out.render_plots(), IsEmpty());
  EXPECT_EQ(out.warnings().size(), 2u);

  // The report lists no plot, and says why.
  out.report("{{#has_plots}}{{#plots}}{{.}};{{/plots}}{{/has_plots}}|{{#warnings}}{{.}};{{/warnings}}", Json::object());
  const std::string report = read_text(dir_ / "report.md");
  EXPECT_THAT(report, AllOf(HasSubstr("|plot bad.png not written"), Not(HasSubstr("plots/"))));
}

TEST_F(RunWriterTest, GoodPlotsAreWrittenAndListedInQueueOrder) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot is not installed";
  RunWriter out(dir_);
  out.plot("kl", good_plot());
  out.plot("bad", bad_plot());
  PanelGrid grid;
  grid.rows = 1;
  grid.cols = 2;
  grid.panels = {good_plot(), good_plot()};
  out.plot("panels", grid);
  EXPECT_THAT(out.render_plots(), ElementsAre("plots/kl.png", "plots/panels.png"));
  EXPECT_TRUE(is_png(dir_ / "plots" / "kl.png"));
  EXPECT_TRUE(is_png(dir_ / "plots" / "panels.png"));
  EXPECT_FALSE(fs::exists(dir_ / "plots" / "bad.png"));
  ASSERT_EQ(out.warnings().size(), 1u);
  EXPECT_THAT(out.warnings()[0], HasSubstr("plot bad.png"));
  // A second batch adds to the plots of the run.
  out.plot("again", good_plot());
  EXPECT_THAT(out.render_plots(), ElementsAre("plots/again.png"));
  EXPECT_THAT(out.outcome().plots, ElementsAre("plots/kl.png", "plots/panels.png", "plots/again.png"));

  out.report("{{#has_plots}}{{#plots}}![]({{.}})\n{{/plots}}{{/has_plots}}", Json::object());
  EXPECT_EQ(read_text(dir_ / "report.md"), "![](plots/kl.png)\n![](plots/panels.png)\n![](plots/again.png)\n");
}

TEST_F(RunWriterTest, WithoutGnuplotEveryPlotIsAWarning) {
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ASSERT_EQ(::setenv("PATH", (dir_ / "empty-bin").c_str(), 1), 0);
  RunWriter out(dir_);
  out.plot("kl", good_plot());
  const auto written = out.render_plots();
  ASSERT_EQ(::setenv("PATH", saved.c_str(), 1), 0);
  EXPECT_THAT(written, IsEmpty());
  ASSERT_EQ(out.warnings().size(), 1u);
  EXPECT_THAT(out.warnings()[0], HasSubstr("plot kl.png not written"));
  out.text("metrics.csv", "seed\n0\n");  // the other outputs are unaffected
  EXPECT_TRUE(fs::exists(dir_ / "metrics.csv"));
}

}  // namespace
}  // namespace diffgen
