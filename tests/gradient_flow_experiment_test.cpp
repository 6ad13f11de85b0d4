// End-to-end tests of `diffgen run gradient-flow`: outputs, their internal
// consistency, thread independence, the preset, and refused settings. Tiny
// settings (32 features, 50 points, a coarse τ grid) keep each run well under
// a second.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr together
};

Result run_diffgen(const std::string& args) {
  const std::string cmd = std::string(DIFFGEN_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffgen-e2e-gf-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

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
    "--set rf.width=32 --set n=50 --set t_nodes=16 --set tau.min=1 --set tau.max=1e10 --set tau.per_decade=2 "
    "--set kl.points=401 --quiet";
constexpr int kGridPoints = 21;

TEST(GradientFlowExperiment, WritesEveryOutputAndTheyAgree) {
  const fs::path out = fresh_dir("outputs");
  const Result r = run_diffgen("run gradient-flow " + kTiny + " --seeds 2 --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
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

TEST(GradientFlowExperiment, IsBitIdenticalForAnyThreadCount) {
  const fs::path a = fresh_dir("threads-a"), b = fresh_dir("threads-b"), c = fresh_dir("threads-c");
  const std::string args = "run gradient-flow " + kTiny + " --seeds 3 --out ";
  ASSERT_EQ(run_diffgen(args + a.string() + " --threads 1").exit_code, 0);
  ASSERT_EQ(run_diffgen(args + b.string() + " --threads 2").exit_code, 0);
  ASSERT_EQ(run_diffgen(args + c.string() + " --threads 2 --set seed=1").exit_code, 0);
  for (const char* f : {"metrics.csv", "densities.csv", "summary.json"}) {
    EXPECT_FALSE(read_file(a / f).empty()) << f;
    EXPECT_EQ(read_file(a / f), read_file(b / f)) << f;
  }
  EXPECT_NE(read_file(a / "metrics.csv"), read_file(c / "metrics.csv"));  // another seed, other numbers
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}

TEST(GradientFlowExperiment, DrawSetsRunToo) {
  const fs::path out = fresh_dir("draws");
  const Result r =
      run_diffgen("run gradient-flow " + kTiny +
                  " --set expectation=draws --set draws.per_point=4 --set draws.population=3000 --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(summary["expectation"], "draws");
  EXPECT_EQ(summary["draws"]["population"], 3000);
  fs::remove_all(out);
}

TEST(GradientFlowExperiment, PresetFileEqualsTheDefaults) {
  const fs::path a = fresh_dir("preset-a"), b = fresh_dir("preset-b");
  const std::string preset = std::string(DIFFGEN_SOURCE_DIR) + "/configs/gradient-flow.toml";
  ASSERT_TRUE(fs::exists(preset));
  ASSERT_EQ(run_diffgen("run gradient-flow --config " + preset + " " + kTiny + " --out " + a.string()).exit_code, 0);
  ASSERT_EQ(run_diffgen("run gradient-flow " + kTiny + " --out " + b.string()).exit_code, 0);
  EXPECT_EQ(read_file(a / "config.toml"), read_file(b / "config.toml"));
  // The preset names every key: without --set, the resolved config equals the preset's values.
  const Result d = run_diffgen("describe gradient-flow");
  ASSERT_EQ(d.exit_code, 0);
  const std::string text = read_file(preset);
  for (const char* key : {"seed", "n", "width", "embed_scale", "expectation", "t_nodes", "per_decade", "refine", "t0",
                          "points", "per_point", "population", "init_std"})
    EXPECT_NE(text.find(std::string(key) + " = "), std::string::npos) << key;
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(GradientFlowExperiment, RefusesBadSettingsBeforeWritingAnything) {
  struct Case {
    std::string set;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"--set tau.min=0", {"tau.min"}},
      {"--set tau.min=10 --set tau.max=1", {"tau.min", "tau.max"}},
      {"--set kl.t0=1e-7", {"kl.t0", "eps"}},
      {"--set kl.hi=5", {"kl.lo/kl.hi", "does not cover"}},
      {"--set embed_dim=3", {"embed_dim", "even"}},
      {"--set expectation=sampled", {"expectation", "exact"}},
      {"--set rf.width=0", {"rf.width"}},
      {"--set no.such.key=1", {"no.such.key"}},
  };
  for (const auto& c : cases) {
    const fs::path out = fresh_dir("refuse");
    const Result r = run_diffgen("run gradient-flow " + c.set + " --out " + out.string());
    EXPECT_EQ(r.exit_code, 2) << c.set << "\n" << r.output;
    for (const auto& w : c.words)
      EXPECT_NE(r.output.find(w), std::string::npos) << c.set << ": " << w << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.set;
  }
}

TEST(GradientFlowExperiment, HasNoCheckpointsToResume) {
  const fs::path out = fresh_dir("resume");
  ASSERT_EQ(run_diffgen("run gradient-flow " + kTiny + " --out " + out.string()).exit_code, 0);
  const Result r = run_diffgen("run gradient-flow --resume " + out.string() + " --quiet");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("checkpoints"), std::string::npos) << r.output;
  fs::remove_all(out);
}

}  // namespace
