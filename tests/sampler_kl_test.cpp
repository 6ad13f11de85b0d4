// End-to-end tests of `diffgen run sampler-kl`: every output from short
// settings, byte-identical results for any thread count, bad settings
// refused with exit code 2 before any output, and the preset equal to the
// defaults.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <regex>

#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using SamplerKl = E2eTest;


std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path fresh(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffgen-e2e-sampler-kl-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

// Short settings: few steps, a small t_max, d = 1 and 2, few draws, a briefly trained network.
const std::string kShort =
    "--set steps=4,8,16 --set grid.t_max=10 --set dimensions=1,2 --set mc.samples=200 --set train.epochs=2 "
    "--set data.n=200 --set fit.min_steps=4 --quiet";

TEST_F(SamplerKl, WritesEveryOutput) {
  const fs::path out = fresh("outputs");
  const Result r = diffgen("run sampler-kl " + kShort + " --set grid.user=0,0.5,2,10 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.all();
  for (const char* f :
       {"config.toml", "metrics.csv", "summary.json", "report.md", "timing.json", "plots/kl_d1.png", "plots/kl_d2.png"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const std::string csv = slurp(out / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "seed,dimension,rule,grid,estimator,steps,t_max,delta_max,kl_final,kl_final_lower,kl_final_error,"
            "kl_final_exact,kl_final_kind,delta_n,delta_n_se,delta_n_source,delta_n_monte_carlo,"
            "delta_n_monte_carlo_se,discretization,discretization_se,estimation,estimation_se,bound,bound_se,"
            "bound_grid,bound_grid_se,mutual_information,mutual_information_se,density_points");
  // d = 1: 2 rules x (exact and perturbed on 2 grids x 3 step counts + the user grid, trained on the geometric
  // grid's 3); d = 2: 2 rules x 2 estimators x 7 (the network is 1-D).
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * (7 + 7 + 3) + 2 * 2 * 7);
  // d = 2 rows report the exact value of the 1-D reduction, with the Monte Carlo estimate beside it.
  EXPECT_NE(csv.find("\n0,2,mean,geometric,exact,16,"), std::string::npos);
  EXPECT_NE(csv.find(",1-D reduction,"), std::string::npos);
  const std::string summary = slurp(out / "summary.json");
  for (const char* key : {"\"fits\"", "\"slope\"", "\"slope_se\"", "\"steps_measured\"", "\"steps_power_law\"",
                          "\"literature\"", "\"benton_2024\"", "\"chen_2023\"", "\"failures\""})
    EXPECT_NE(summary.find(key), std::string::npos) << key;
  const std::string report = slurp(out / "report.md");
  EXPECT_NE(report.find("plots/kl_d1.png"), std::string::npos);
  EXPECT_NE(report.find("Benton"), std::string::npos);
  fs::remove_all(out);
}

// One step count: no slope, no crossing, nothing to fit; every such cell is
// "-" and no output prints "nan" (a report once did for steps=1).
TEST_F(SamplerKl, OneStepCountPrintsNoNan) {
  const fs::path out = fresh("one-step");
  const Result r = diffgen("run sampler-kl --set steps=1 --set dimensions=1,2 --set mc.samples=200 "
                           "--set train.epochs=2 --set data.n=200 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.all();
  const std::regex nan_word(R"(\bnan\b)", std::regex::icase);
  for (const char* f : {"report.md", "summary.json", "metrics.csv"})
    EXPECT_FALSE(std::regex_search(slurp(out / f), nan_word)) << f;
  EXPECT_FALSE(std::regex_search(r.out, nan_word)) << r.out;
  fs::remove_all(out);
}

// A trained network whose training diverges fails its own rows only: the
// exact and perturbed estimators' rows are written and the run exits with 4
// (it once lost them all, leaving only config.toml).
TEST_F(SamplerKl, DivergedNetworkFailsOnlyItsRowsAndExitsWith4) {
  const fs::path out = fresh("diverged");
  const Result r = diffgen("run sampler-kl --set steps=4,8 --set dimensions=1 --set train.epochs=2 "
                           "--set data.n=200 --set train.lr=1e6 --quiet --out " + out.string());
  EXPECT_EQ(r.code, 4) << r.all();
  EXPECT_NE(r.err.find("the trained estimator's network (seed 0): training diverged"), std::string::npos) << r.err;
  const std::string csv = slurp(out / "metrics.csv");
  EXPECT_NE(csv.find("\n0,1,mean,geometric,exact,8,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n0,1,covariance,uniform,perturbed,4,"), std::string::npos) << csv;
  EXPECT_NE(slurp(out / "report.md").find("**failed** (d = 1, mean, geometric, trained, n = 4)"), std::string::npos);
  fs::remove_all(out);
}

TEST_F(SamplerKl, ByteIdenticalForAnyThreadCount) {
  const fs::path a = fresh("threads-a"), b = fresh("threads-b");
  ASSERT_EQ(diffgen("run sampler-kl " + kShort + " --threads 1 --out " + a.string()).code, 0);
  ASSERT_EQ(diffgen("run sampler-kl " + kShort + " --threads 2 --out " + b.string()).code, 0);
  EXPECT_FALSE(slurp(a / "metrics.csv").empty());
  EXPECT_EQ(slurp(a / "metrics.csv"), slurp(b / "metrics.csv"));
  EXPECT_EQ(slurp(a / "summary.json"), slurp(b / "summary.json"));
  // Another seed draws other Monte Carlo samples (d = 2) and trains another network.
  const fs::path c = fresh("threads-c");
  ASSERT_EQ(diffgen("run sampler-kl " + kShort + " --set seed=1 --out " + c.string()).code, 0);
  EXPECT_NE(slurp(a / "metrics.csv"), slurp(c / "metrics.csv"));
  for (const auto& p : {a, b, c}) fs::remove_all(p);
}

TEST_F(SamplerKl, BadSettingsExitWithCode2NamingTheKeyBeforeAnyOutput) {
  struct Case {
    std::string set;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"--set steps=8,x", {"steps", "'x'"}},
      {"--set steps=0,8", {"steps", "element 1 = 0"}},
      {"--set rules=mean,both", {"rules", "element 2 = both", "covariance"}},
      {"--set grids=log", {"grids", "element 1 = log", "geometric"}},
      {"--set estimators=", {"estimators", "at least 1"}},
      {"--set dimensions=1,0", {"dimensions", "element 2 = 0"}},
      {"--set grid.t_min=200", {"grid.t_min", "grid.t_max"}},
      {"--set grid.t_max=-1", {"grid.t_max"}},
      {"--set grid.user=1,2", {"grid.user", "from 0"}},
      {"--set grid.user=0,2,1", {"grid.user", "increase strictly"}},
      {"--set mc.samples=201", {"mc.samples", "even"}},
      {"--set density.spacing=2", {"density.spacing"}},
      {"--set no.such.key=1", {"no.such.key"}},
  };
  for (const auto& c : cases) {
    const fs::path out = fresh("bad");
    const Result r = diffgen("run sampler-kl " + c.set + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << c.set << "\n" << r.all();
    for (const auto& w : c.words)
      EXPECT_NE(r.all().find(w), std::string::npos) << c.set << ": " << w << "\n" << r.all();
    EXPECT_FALSE(fs::exists(out)) << c.set;
  }
}

TEST_F(SamplerKl, AHugePerturbationFailsCleanlyInsteadOfCrashing) {
  // The output density's grid size (hi - lo) / h overflowed the integer
  // conversion at perturbed.eps = 1e100 and the program crashed (SIGSEGV).
  const fs::path out = fresh("huge-eps");
  const Result r = diffgen(
      "run sampler-kl --set steps=8,16 --set estimators=perturbed --set perturbed.eps=1e100 "
      "--set dimensions=1 --quiet --out " +
      out.string());
  EXPECT_EQ(r.code, 4) << r.all();
  EXPECT_NE(r.all().find("grid points"), std::string::npos) << r.all();
  fs::remove_all(out);
}

TEST_F(SamplerKl, PresetFileEqualsTheDefaults) {
  const fs::path a = fresh("preset-a"), b = fresh("preset-b");
  const std::string preset = std::string(DIFFGEN_SOURCE_DIR) + "/configs/sampler-kl.toml";
  ASSERT_EQ(diffgen("run sampler-kl --config " + preset + " " + kShort + " --out " + a.string()).code, 0);
  ASSERT_EQ(diffgen("run sampler-kl " + kShort + " --out " + b.string()).code, 0);
  EXPECT_EQ(slurp(a / "config.toml"), slurp(b / "config.toml"));
  fs::remove_all(a);
  fs::remove_all(b);
}

}  // namespace
}  // namespace diffgen::e2e
