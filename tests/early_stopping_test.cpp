// End-to-end tests of `diffgen run early-stopping`: reproducibility, thread
// independence, and a diverging run that stops with exit code 4 and keeps
// its outputs. Short runs (few epochs) keep them quick.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using EarlyStopping = E2eTest;
using EarlyStoppingDataFile = E2eTest;

// A short run: 30 epochs, KL (a) every 5, KL (b) every 15, memorization every 15 (100 samples).
const std::string kShort =
    "--set train.epochs=30 --set kl.every=5 --set kl.ode.every=15 --set plot.epochs=0,15,30 --set memorization.every=15 "
    "--set memorization.samples=100 --set sampler.steps=100 --quiet";

TEST_F(EarlyStopping, WritesEveryOutput) {
  const fs::path out = dir_ / "outputs";
  const Result r = diffgen("run early-stopping " + kShort + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.all();
  for (const char* f :
       {"config.toml", "metrics.csv", "densities.csv", "summary.json", "report.md", "plots/kl.png",
        "plots/densities.png", "plots/loss.png", "plots/kl_small.png", "plots/weights.png", "plots/memorization.png",
                        "train-seed-0.npy"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const std::string csv = read_file(out / "metrics.csv");
  // The columns from before the memorization measures keep their names and places.
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "seed,epoch,steps,train_loss,kl_a,kl_b,memorized_fraction,nn_distance,kl_a_small,kl_emp_a,kl_emp_a_small,"
            "weight_right,memorized_baseline,nn_distance_fresh,closer_to_train,kl_b_error");
  // Epochs 0..30: 31 rows of data plus the header.
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 32);
  const std::string summary = read_file(out / "summary.json");
  for (const char* key : {"\"kl_a\"",
                          "\"kl_b\"",
                          "\"floors\"",
                          "\"population_a\"",
                          "\"empirical_a\"",
                          "\"min\"",
                          "\"epoch_of_min\"",
                          "\"final\"",
                          "\"kl_a_small\"",
                          "\"kl_emp_a\"",
                          "\"kl_emp_a_small\"",
                          "\"weight_right\"",
                          "\"population_a_small\"",
                          "\"empirical_a_small\"",
                          "\"population_emp_a_small\"",
                          "\"memorization_reading\"",
                          "\"baseline\"",
                          "\"final_excess_fraction\"",
                          "\"closer_to_train\"",
                          "\"points_to\""})
    EXPECT_NE(summary.find(key), std::string::npos) << key;
  const std::string report = read_file(out / "report.md");
  for (const char* words : {"Memorization measures at the last epoch", "KL at t0 = 0.01", "fresh target samples",
                            "KL to the target *below* its KL to the empirical density"})
    EXPECT_NE(report.find(words), std::string::npos) << words;
  fs::remove_all(out);
}

// The memorization measures with their references: the memorized training
// set's KL at t0_small is far above the perfect learner's and above its own
// at t0 = 0.065; fresh target samples score the baseline.
TEST_F(EarlyStopping, SummaryHoldsTheMemorizationReferences) {
  const fs::path out = dir_ / "memorization";
  const Result r = diffgen("run early-stopping " + kShort + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.all();
  const auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  const auto& floors = summary.at("floors");
  const double population = floors.at("population_a_small").at("mean").get<double>();
  const double empirical = floors.at("empirical_a_small").at("mean").get<double>();
  EXPECT_GT(empirical, 300 * population);
  EXPECT_GT(empirical, 2.5 * floors.at("empirical_a").at("mean").get<double>());
  // A perfect learner is farther from the empirical density than from the target.
  EXPECT_GT(floors.at("population_emp_a_small").at("mean").get<double>(), 100 * population);
  // Fresh target samples: the ratio threshold (1/3) and ½ nearer to the training set, within 4 binomial SE.
  const auto& baseline = summary.at("memorization").at("baseline");
  EXPECT_NEAR(baseline.at("fraction").at("mean").get<double>(), 1.0 / 3.0, 4 * std::sqrt(2.0 / 9.0 / 100));
  EXPECT_NEAR(baseline.at("closer_to_train").at("mean").get<double>(), 0.5, 4 * std::sqrt(0.25 / 100));
  const auto& reading = summary.at("memorization_reading");
  for (const char* measure : {"kl", "nn_ratio", "distance"}) EXPECT_TRUE(reading.contains(measure)) << measure;
  EXPECT_EQ(reading.at("kl").at("t0").get<double>(), 0.01);
  fs::remove_all(out);
}

TEST_F(EarlyStopping, SameSeedGivesByteIdenticalMetricsAcrossRunsAndThreadCounts) {
  const fs::path a = dir_ / "repro-a", b = dir_ / "repro-b", c = dir_ / "repro-c";
  const std::string args = "run early-stopping " + kShort + " --seeds 3 --out ";
  ASSERT_EQ(diffgen(args + a.string() + " --threads 2").code, 0);
  ASSERT_EQ(diffgen(args + b.string() + " --threads 2").code, 0);
  ASSERT_EQ(diffgen(args + c.string() + " --threads 1").code, 0);
  const std::string ma = read_file(a / "metrics.csv");
  EXPECT_FALSE(ma.empty());
  EXPECT_EQ(ma, read_file(b / "metrics.csv"));
  EXPECT_EQ(ma, read_file(c / "metrics.csv"));
  EXPECT_EQ(read_file(a / "densities.csv"), read_file(c / "densities.csv"));
  // A different seed gives different numbers.
  const fs::path d = dir_ / "repro-d";
  ASSERT_EQ(diffgen(args + d.string() + " --set seed=1").code, 0);
  EXPECT_NE(ma, read_file(d / "metrics.csv"));
  for (const auto& p : {a, b, c, d}) fs::remove_all(p);
}

TEST_F(EarlyStopping, DivergingRunStopsWithCode4AndKeepsOutputs) {
  const fs::path out = dir_ / "diverge";
  const Result r = diffgen("run early-stopping " + kShort + " --set train.lr=1e4 --out " + out.string());
  EXPECT_EQ(r.code, 4) << r.all();
  EXPECT_NE(r.all().find("epoch"), std::string::npos) << r.all();
  EXPECT_NE(r.all().find("diverged"), std::string::npos) << r.all();
  // What was computed before the failure is on disk: at least the epoch-0 evaluation.
  ASSERT_TRUE(fs::exists(out / "metrics.csv"));
  const std::string csv = read_file(out / "metrics.csv");
  EXPECT_NE(csv.find("\n0,0,0,"), std::string::npos) << csv;
  EXPECT_TRUE(fs::exists(out / "summary.json"));
  EXPECT_NE(read_file(out / "summary.json").find("\"failures\""), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "report.md"));
  fs::remove_all(out);
}

// An oracle floor that cannot be computed (target.var = 1e-12: the exact
// score's PF-ODE passes its step limit) leaves every per-epoch KL on disk; the
// run names the floor and why, and ends with exit code 4 (it once wrote only
// config.toml).
TEST_F(EarlyStopping, FailedOracleFloorKeepsEveryKlAndExitsWith4) {
  const fs::path out = dir_ / "floor-fails";
  const Result r = diffgen("run early-stopping " + kShort + " --set target.var=1e-12 --out " + out.string());
  EXPECT_EQ(r.code, 4) << r.all();
  EXPECT_NE(r.err.find("oracle floor not computed, the perfect learner's KL (b)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ode.max_steps"), std::string::npos) << r.err;
  const std::string csv = read_file(out / "metrics.csv");
  for (const char* row : {"\n0,0,0,", "\n0,30,"}) EXPECT_NE(csv.find(row), std::string::npos) << row << csv;
  const auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  ASSERT_EQ(summary["failures"].size(), 1u) << summary["failures"];
  EXPECT_EQ(summary["failures"][0]["seed"], 0);
  EXPECT_TRUE(summary["floors"]["population_b"]["mean"].is_null()) << summary["floors"];
  EXPECT_NE(read_file(out / "report.md").find("an oracle floor was not computed"), std::string::npos);
  fs::remove_all(out);
}

TEST_F(EarlyStopping, PresetFileEqualsTheDefaults) {
  // configs/early-stopping.toml is the authors' configuration; running with it
  // must resolve to exactly the defaults.
  const fs::path a = dir_ / "preset-a", b = dir_ / "preset-b";
  const std::string preset = std::string(DIFFGEN_SOURCE_DIR) + "/configs/early-stopping.toml";
  ASSERT_EQ(diffgen("run early-stopping --config " + preset + " " + kShort + " --out " + a.string()).code, 0);
  ASSERT_EQ(diffgen("run early-stopping " + kShort + " --out " + b.string()).code, 0);
  EXPECT_EQ(read_file(a / "config.toml"), read_file(b / "config.toml"));
  fs::remove_all(a);
  fs::remove_all(b);
}


TEST_F(EarlyStopping, ContradictorySettingsAreRefusedBeforeAnythingIsWritten) {
  struct Case {
    std::string set;
    std::vector<std::string> words;  // the message names the keys and says why
  };
  const std::vector<Case> cases = {
      {"--set kl.t0=1e-6", {"kl.t0", "sde.eps", "1e-06"}},
      {"--set kl.hi=5", {"kl.lo/kl.hi", "does not cover", "target.mu"}},
      {"--set kl.lo=3 --set kl.hi=2", {"kl.lo", "kl.hi"}},
      // The fixed paper grid passes the same check (it printed KL = -1.5e-21 with exit 0).
      {"--set target.mu=20 --set kl.lo=-30 --set kl.hi=30 --set kl.method=paper-grid",
       {"kl.method = paper-grid", "[-10, 10]", "does not cover", "target.mu"}},
      {"--set kl.points=100", {"kl.points", "100", "4k + 1"}},
      {"--set kl.t0_small=0.1", {"kl.t0_small", "kl.t0", "0.065"}},
      {"--set model.mlp.output_scaling=mean-field", {"model.mlp.output_scaling", "fixed, width"}},
      {"--set model.mlp.embed_dim=3", {"model.mlp.embed_dim", "even"}},
      {"--set sde.kind=vp --set sde.beta_min=30", {"sde.beta_max", "sde.beta_min"}},
      {"--set plot.epochs=10,x", {"plot.epochs", "'x'"}},
  };
  for (const auto& c : cases) {
    const fs::path out = dir_ / "contradiction";
    const Result r = diffgen("run early-stopping " + c.set + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << c.set << "\n" << r.all();
    for (const auto& w : c.words)
      EXPECT_NE(r.all().find(w), std::string::npos) << c.set << ": " << w << "\n" << r.all();
    EXPECT_FALSE(fs::exists(out)) << c.set;
  }
}


void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

// An NPY 1.0 file: magic, version, header length, the header dict padded to 64 bytes, then `data`.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

TEST_F(EarlyStoppingDataFile, MalformedFilesExitWith3NamingFileAndPlace) {
  const fs::path dir = dir_ / "bad-data";
  fs::create_directories(dir);
  std::string eight_doubles(64, '\0');
  struct Case {
    std::string name, bytes;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"missing.csv", "", {"missing.csv"}},  // not written: absent
      {"empty.csv", "", {"empty.csv", "empty"}},
      {"word.csv", "x\n1.0\n2.0\nabc\n", {"word.csv", "line 4", "abc"}},
      {"ragged.csv", "1,2\n3,4\n5\n", {"ragged.csv", "line 3"}},
      {"nan.csv", "1.0\nnan\n", {"nan.csv", "line 2"}},
      {"truncated.npy", npy("<f8", "(10,)", eight_doubles), {"truncated.npy", "truncated"}},
      {"ints.npy", npy("<i8", "(8,)", eight_doubles), {"ints.npy", "<i8"}},
      {"big-endian.npy", npy(">f8", "(8,)", eight_doubles), {"big-endian.npy", ">f8"}},
      {"points.txt", "1\n2\n", {"points.txt", ".csv"}},
  };
  for (const auto& c : cases) {
    const fs::path file = dir / c.name;
    if (c.name != "missing.csv") write_bytes(file, c.bytes);
    const fs::path out = dir / ("out-" + c.name);
    const Result r = diffgen("run early-stopping --set data.file=" + file.string() + " --out " + out.string());
    EXPECT_EQ(r.code, 3) << c.name << "\n" << r.all();
    for (const auto& w : c.words)
      EXPECT_NE(r.all().find(w), std::string::npos) << c.name << ": " << w << "\n" << r.all();
    EXPECT_FALSE(fs::exists(out)) << c.name << ": nothing is written for a bad file";
  }
  fs::remove_all(dir);
}

TEST_F(EarlyStoppingDataFile, TrainsOnAFileAndSaysWhyThereIsNoKl) {
  const fs::path dir = dir_ / "file-mode";
  fs::create_directories(dir);
  std::string csv = "x,y\n";
  for (int i = 0; i < 60; ++i)
    csv += std::to_string(std::cos(i * 0.1) * 3) + "," + std::to_string(std::sin(i * 0.1)) + "\n";
  write_bytes(dir / "ring.csv", csv);
  const fs::path out = dir / "run";
  const Result r = diffgen("run early-stopping --set data.file=" + (dir / "ring.csv").string() +
                               " --set train.epochs=20 --set memorization.every=10 --set memorization.samples=50"
                               " --set sampler.steps=50 --out " +
                               out.string());
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_NE(r.all().find("no exact density"), std::string::npos) << r.all();
  const std::string summary = read_file(out / "summary.json");
  EXPECT_NE(summary.find("\"kl\": \"not computed"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"memorization\""), std::string::npos) << summary;
  EXPECT_EQ(summary.find("\"kl_a\""), std::string::npos) << summary;
  // Memorization at epochs 0, 10, 20 for the one seed; the KL columns stay empty.
  const std::string metrics = read_file(out / "metrics.csv");
  EXPECT_NE(metrics.find("\n0,20,"), std::string::npos) << metrics;
  EXPECT_TRUE(fs::exists(out / "plots" / "memorization.png"));
  // The population loss needs the target.
  const Result p = diffgen("run early-stopping --set data.file=" + (dir / "ring.csv").string() +
                               " --set train.loss=population --out " + (dir / "p").string());
  EXPECT_EQ(p.code, 2) << p.all();
  EXPECT_NE(p.all().find("data.file"), std::string::npos) << p.all();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace diffgen::e2e
