// End-to-end tests of `diffgen run rates`: outputs and their invariants,
// thread independence, the preset, and refused settings, on tiny sweeps.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using RatesExperiment = E2eTest;


std::vector<std::vector<std::string>> read_csv(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream in(read_file(p));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    rows.push_back(cells);
  }
  return rows;
}

const std::string kTiny =
    "--set n_values=40,80,160 --set m_values=8,16,32 --set model.random_features.width=32 --set t_nodes=16 --set tau.min=1 "
    "--set tau.max=1e10 --set tau.per_decade=2 --set kl.points=401 --quiet";

TEST_F(RatesExperiment, WritesEveryOutputAndTheyAgree) {
  const fs::path out = dir_ / "outputs";
  const Result r = diffgen("run rates " + kTiny + " --seeds 2 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.all();
  for (const char* f : {"config.toml", "metrics.csv", "curves.csv", "summary.json", "report.md", "timing.json",
                        "plots/rates.png", "plots/stopping.png", "plots/curves.png"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto rows = read_csv(out / "metrics.csv");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0], (std::vector<std::string>{"seed", "sweep", "n", "m", "loss", "best_kl", "tau_stop_kl", "limit_kl",
                                               "best_score_error", "tau_stop_score_error", "limit_score_error",
                                               "excess_kl", "excess_score_error"}));
  EXPECT_EQ(rows.size(), 1u + 2u * (3u + 3u));  // 2 seeds × (3 n + 3 m)
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), 13u) << i;
    // The best over training is never worse than the limit, and the score error is never negative.
    EXPECT_LE(std::stod(row[5]), std::stod(row[7]) + 1e-15) << i;
    EXPECT_GE(std::stod(row[8]), -1e-12) << i;
    EXPECT_LE(std::stod(row[8]), std::stod(row[10]) + 1e-12) << i;
    // The empirical flow cannot reach a lower population loss than the population flow of the same features.
    if (row[1] == "n") {
      EXPECT_GE(std::stod(row[12]), -1e-10) << i;
    }
  }
  const auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  for (const char* key : {"best_kl_n", "excess_kl_n", "excess_score_error_n", "best_kl_m", "excess_kl_m",
                          "score_error_m", "tau_kl_n", "tau_test_n"}) {
    ASSERT_TRUE(summary["fits"].contains(key)) << key;
    EXPECT_TRUE(summary["fits"][key].contains("slope")) << key;
    EXPECT_TRUE(summary["fits"][key]["theory"].is_number()) << key;
  }
  EXPECT_DOUBLE_EQ(summary["fits"]["best_kl_n"]["theory"].get<double>(), -0.4);
  EXPECT_DOUBLE_EQ(summary["fits"]["best_kl_m"]["theory"].get<double>(), -0.8);
  // With 2 seeds the interval comes from the spread of per-seed slopes.
  EXPECT_NE(summary["fits"]["score_error_m"]["method"].get<std::string>().find("per-seed"), std::string::npos);
  const std::string report = read_file(out / "report.md");
  for (const char* s : {"Fitted slopes", "plots/rates.png", "Reproduce"}) EXPECT_NE(report.find(s), std::string::npos);
  fs::remove_all(out);
}

TEST_F(RatesExperiment, IsBitIdenticalForAnyThreadCount) {
  const fs::path a = dir_ / "threads-a", b = dir_ / "threads-b";
  const std::string args = "run rates " + kTiny + " --seeds 2 --out ";
  ASSERT_EQ(diffgen(args + a.string() + " --threads 1").code, 0);
  ASSERT_EQ(diffgen(args + b.string() + " --threads 2").code, 0);
  for (const char* f : {"metrics.csv", "curves.csv", "summary.json"}) {
    EXPECT_FALSE(read_file(a / f).empty()) << f;
    EXPECT_EQ(read_file(a / f), read_file(b / f)) << f;
  }
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_F(RatesExperiment, PresetFileEqualsTheDefaults) {
  const fs::path a = dir_ / "preset-a", b = dir_ / "preset-b";
  const std::string preset = std::string(DIFFGEN_SOURCE_DIR) + "/configs/rates.toml";
  ASSERT_TRUE(fs::exists(preset));
  ASSERT_EQ(diffgen("run rates --config " + preset + " " + kTiny + " --out " + a.string()).code, 0);
  ASSERT_EQ(diffgen("run rates " + kTiny + " --out " + b.string()).code, 0);
  EXPECT_EQ(read_file(a / "config.toml"), read_file(b / "config.toml"));
  const std::string text = read_file(preset);
  for (const char* key : {"n_values", "m_values", "width", "per_decade", "t_nodes", "expectation"})
    EXPECT_NE(text.find(std::string(key) + " = "), std::string::npos) << key;
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_F(RatesExperiment, RefusesBadSettingsBeforeWritingAnything) {
  struct Case {
    std::string set;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"--set n_values=100,abc", {"n_values", "'abc'"}}, {"--set n_values=100", {"n_values", "at least 2"}},
      {"--set m_values=16,5000", {"m_values", "5000"}},  {"--set m_values=0,16", {"m_values", "element 1 = 0"}},
      {"--set tau.max=0.001", {"tau.min", "tau.max"}},   {"--set kl.points=100", {"kl.points", "4k + 1"}},
  };
  for (const auto& c : cases) {
    const fs::path out = dir_ / "refuse";
    const Result r = diffgen("run rates " + c.set + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << c.set << "\n" << r.all();
    for (const auto& w : c.words)
      EXPECT_NE(r.all().find(w), std::string::npos) << c.set << ": " << w << "\n" << r.all();
    EXPECT_FALSE(fs::exists(out)) << c.set;
  }
}

}  // namespace
}  // namespace diffgen::e2e
