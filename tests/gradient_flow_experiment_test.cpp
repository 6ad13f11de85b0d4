// End-to-end tests of `diffgen run gradient-flow`: outputs, their internal
// consistency, thread independence, the preset, and refused settings. Tiny
// settings (32 features, 50 points, a coarse τ grid) keep each run well under
// a second.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using GradientFlowExperiment = E2eTest;


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

// 32 features, 50 training points, 16 t nodes, τ from 1 to 1e10 at 2 per decade (21 points).
const std::string kTiny =
    "--set model.random_features.width=32 --set data.n=50 --set t_nodes=16 --set tau.min=1 --set tau.max=1e10 --set tau.per_decade=2 "
    "--set kl.points=401 --quiet";
constexpr int kGridPoints = 21;

TEST_F(GradientFlowExperiment, WritesEveryOutputAndTheyAgree) {
  const fs::path out = dir_ / "outputs";
  const Result r = diffgen("run gradient-flow " + kTiny + " --seeds 2 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.all();
  for (const char* f : {"config.toml", "metrics.csv", "densities.csv", "summary.json", "report.md", "timing.json",
                        "plots/kl.png", "plots/gap.png", "plots/densities.png"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto rows = read_csv(out / "metrics.csv");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0], (std::vector<std::string>{"seed", "loss", "point", "tau", "kl_a", "train_loss", "population_loss",
                                               "score_error"}));
  // 2 seeds × 2 losses × (grid + limit).
  EXPECT_EQ(rows.size(), 1u + 2u * 2u * (kGridPoints + 1u));
  // The best KL of each flow in summary.json is at most every KL it passed on the grid;
  // the population flow's population loss never rises (gradient flow on that very loss).
  const auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  std::map<std::pair<std::string, std::string>, double> grid_min;
  std::map<std::pair<std::string, std::string>, double> last_pop_loss;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), 8u) << i;
    if (row[2] != "grid") continue;
    const auto key = std::pair{row[0], row[1]};
    const double kl = std::stod(row[4]), pop_loss = std::stod(row[6]);
    EXPECT_GE(std::stod(row[7]), -1e-12) << "score error below zero at row " << i;
    grid_min[key] = grid_min.count(key) ? std::min(grid_min[key], kl) : kl;
    if (row[1] == "population" && last_pop_loss.count(key)) {
      EXPECT_LE(pop_loss, last_pop_loss[key] + 1e-12) << i;
    }
    last_pop_loss[key] = pop_loss;
  }
  for (const char* loss : {"empirical", "population"}) {
    const auto& per_seed = summary[loss]["per_seed"];
    ASSERT_EQ(per_seed.size(), 2u);
    for (const auto& s : per_seed) {
      const auto key = std::pair{std::to_string(s["seed"].get<int>()), std::string(loss)};
      EXPECT_LE(s["best_kl"].get<double>(), grid_min.at(key) + 1e-15) << loss;
      EXPECT_GT(s["best_kl"].get<double>(), 0.0);
    }
  }
  EXPECT_TRUE(summary["floors"]["smoothing"].is_number());
  EXPECT_GT(summary["dsm_loss_infimum"].get<double>(), 0.0);
  const std::string report = read_file(out / "report.md");
  for (const char* s : {"Early stopping", "plots/kl.png", "Reproduce"})
    EXPECT_NE(report.find(s), std::string::npos) << s;
  fs::remove_all(out);
}

TEST_F(GradientFlowExperiment, IsBitIdenticalForAnyThreadCount) {
  const fs::path a = dir_ / "threads-a", b = dir_ / "threads-b", c = dir_ / "threads-c";
  const std::string args = "run gradient-flow " + kTiny + " --seeds 3 --out ";
  ASSERT_EQ(diffgen(args + a.string() + " --threads 1").code, 0);
  ASSERT_EQ(diffgen(args + b.string() + " --threads 2").code, 0);
  ASSERT_EQ(diffgen(args + c.string() + " --threads 2 --set seed=1").code, 0);
  for (const char* f : {"metrics.csv", "densities.csv", "summary.json"}) {
    EXPECT_FALSE(read_file(a / f).empty()) << f;
    EXPECT_EQ(read_file(a / f), read_file(b / f)) << f;
  }
  EXPECT_NE(read_file(a / "metrics.csv"), read_file(c / "metrics.csv"));  // another seed, other numbers
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}

TEST_F(GradientFlowExperiment, DrawSetsRunToo) {
  const fs::path out = dir_ / "draws";
  const Result r =
      diffgen("run gradient-flow " + kTiny +
                  " --set expectation=draws --set draws.per_point=4 --set draws.population=3000 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.all();
  const auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(summary["expectation"], "draws");
  EXPECT_EQ(summary["draws"]["population"], 3000);
  fs::remove_all(out);
}

TEST_F(GradientFlowExperiment, PresetFileEqualsTheDefaults) {
  const fs::path a = dir_ / "preset-a", b = dir_ / "preset-b";
  const std::string preset = std::string(DIFFGEN_SOURCE_DIR) + "/configs/gradient-flow.toml";
  ASSERT_TRUE(fs::exists(preset));
  ASSERT_EQ(diffgen("run gradient-flow --config " + preset + " " + kTiny + " --out " + a.string()).code, 0);
  ASSERT_EQ(diffgen("run gradient-flow " + kTiny + " --out " + b.string()).code, 0);
  EXPECT_EQ(read_file(a / "config.toml"), read_file(b / "config.toml"));
  // The preset names every key: without --set, the resolved config equals the preset's values.
  const Result d = diffgen("describe gradient-flow");
  ASSERT_EQ(d.code, 0);
  const std::string text = read_file(preset);
  for (const char* key : {"seed", "n", "width", "embed_scale", "expectation", "t_nodes", "per_decade", "refine", "t0",
                          "points", "per_point", "population", "init_std"})
    EXPECT_NE(text.find(std::string(key) + " = "), std::string::npos) << key;
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_F(GradientFlowExperiment, RefusesBadSettingsBeforeWritingAnything) {
  struct Case {
    std::string set;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"--set tau.min=0", {"tau.min"}},
      {"--set tau.min=10 --set tau.max=1", {"tau.min", "tau.max"}},
      {"--set kl.t0=1e-7", {"kl.t0", "sde.eps"}},
      {"--set kl.hi=5", {"kl.lo/kl.hi", "does not cover"}},
      {"--set model.random_features.embed_dim=3", {"model.random_features.embed_dim", "even"}},
      {"--set expectation=sampled", {"expectation", "exact"}},
      {"--set model.random_features.width=0", {"model.random_features.width"}},
      {"--set no.such.key=1", {"no.such.key"}},
  };
  for (const auto& c : cases) {
    const fs::path out = dir_ / "refuse";
    const Result r = diffgen("run gradient-flow " + c.set + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << c.set << "\n" << r.all();
    for (const auto& w : c.words)
      EXPECT_NE(r.all().find(w), std::string::npos) << c.set << ": " << w << "\n" << r.all();
    EXPECT_FALSE(fs::exists(out)) << c.set;
  }
}

// A finished run resumed reuses every stored task and rewrites the same outputs.
TEST_F(GradientFlowExperiment, ResumingAFinishedRunRewritesTheSameOutputs) {
  const fs::path out = dir_ / "resume", copy = dir_ / "copy";
  ASSERT_EQ(diffgen("run gradient-flow " + kTiny + " --out " + out.string()).code, 0);
  fs::copy(out, copy, fs::copy_options::recursive);
  const Result r = diffgen("run gradient-flow --resume " + out.string() + " --quiet");
  EXPECT_EQ(r.code, 0) << r.all();
  expect_same_outputs(copy, out);
  EXPECT_NE(read_file(out / "timing.json").find("\"tasks_computed\": 0"), std::string::npos);
}

}  // namespace
}  // namespace diffgen::e2e
