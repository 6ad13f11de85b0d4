#include "experiments/checkpoint.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <bit>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "experiments/training_study.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "diffgen_checkpoint_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    clear_interrupt();
  }
  void TearDown() override {
    clear_interrupt();
    fs::remove_all(dir_);
  }

  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static void write(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

  // The message of the DataError `f` throws; fails the test if it throws nothing.
  template <class F>
  static std::string data_error(F&& f) {
    try {
      f();
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no DataError";
    return {};
  }

  fs::path dir_;
};

Config study_config() {
  Schema schema;
  add_training_study_keys(schema);
  return Config(schema);
}

// A checkpoint with every field away from its default, NaN loss at epoch 0
// and a cached normal in the RNG state included.
StudyCheckpoint sample_checkpoint(const Config& config) {
  StudyCheckpoint c;
  c.experiment = "early-stopping";
  c.config_toml = config.to_toml();
  c.config_fingerprint = config_fingerprint(c.config_toml);
  c.seeds = 3;
  c.seed_index = 2;
  c.trainer.epoch = 2;
  c.trainer.steps = 8;
  c.trainer.rng = Rng(17).state();
  c.trainer.rng.has_spare = true;
  c.trainer.rng.spare = -0.123456789012345;
  c.trainer.optimizer.step = 8;
  c.trainer.optimizer.values = Vector::LinSpaced(6, -1.0, 1.0);
  c.parameters = Vector::LinSpaced(3, 0.1, 0.3);
  c.rows = {{0, 0, kNaN}, {1, 4, 1.25}, {2, 8, 0.1 + 0.2}};
  c.kept = {{0, Vector::Constant(3, 1e-300)}, {2, Vector::Constant(3, -7.5)}};
  return c;
}

void expect_same_bits(double a, double b) {
  EXPECT_EQ(std::bit_cast<std::uint64_t>(a), std::bit_cast<std::uint64_t>(b));
}

TEST_F(CheckpointTest, RoundTripKeepsEveryBit) {
  const Config config = study_config();
  const StudyCheckpoint c = sample_checkpoint(config);
  const fs::path file = checkpoint_path(dir_, 2);
  EXPECT_EQ(file, dir_ / "checkpoints" / "seed-2.bin");
  save_checkpoint(file, c);
  const StudyCheckpoint r = load_checkpoint(file);
  EXPECT_EQ(r.experiment, c.experiment);
  EXPECT_EQ(r.config_toml, c.config_toml);
  EXPECT_EQ(r.config_fingerprint, c.config_fingerprint);
  EXPECT_EQ(r.seeds, 3);
  EXPECT_EQ(r.seed_index, 2);
  EXPECT_EQ(r.trainer.epoch, 2);
  EXPECT_EQ(r.trainer.steps, 8);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.trainer.rng.s[i], c.trainer.rng.s[i]);
  EXPECT_TRUE(r.trainer.rng.has_spare);
  expect_same_bits(r.trainer.rng.spare, c.trainer.rng.spare);
  EXPECT_EQ(r.trainer.optimizer.step, 8);
  EXPECT_EQ(r.trainer.optimizer.values, c.trainer.optimizer.values);
  EXPECT_EQ(r.parameters, c.parameters);
  ASSERT_EQ(r.rows.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.rows[i].epoch, c.rows[i].epoch);
    EXPECT_EQ(r.rows[i].steps, c.rows[i].steps);
    expect_same_bits(r.rows[i].train_loss, c.rows[i].train_loss);
  }
  ASSERT_EQ(r.kept.size(), 2u);
  EXPECT_EQ(r.kept[1].epoch, 2);
  EXPECT_EQ(r.kept[0].parameters, c.kept[0].parameters);
  EXPECT_EQ(r.kept[1].parameters, c.kept[1].parameters);
  // The same state encodes to the same bytes.
  EXPECT_EQ(encode_checkpoint(r), read(file));
  // Nothing but the checkpoint is left in the folder (no temporary file).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "checkpoints"), fs::directory_iterator{}), 1);
}

TEST_F(CheckpointTest, TruncatedFileIsADataErrorNamingTheFile) {
  const std::string bytes = encode_checkpoint(sample_checkpoint(study_config()));
  const fs::path file = dir_ / "seed-0.bin";
  for (std::size_t keep : {std::size_t{0}, std::size_t{5}, std::size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    write(file, bytes.substr(0, keep));
    const std::string message = data_error([&] { load_checkpoint(file); });
    EXPECT_THAT(message, HasSubstr(file.string())) << keep;
    if (keep == 0) {
      EXPECT_THAT(message, HasSubstr("empty"));
    } else if (keep == 5) {
      EXPECT_THAT(message, HasSubstr("not a diffgen checkpoint"));
    } else {
      EXPECT_THAT(message, HasSubstr("truncated")) << keep;
    }
  }
  write(file, bytes + "x");
  EXPECT_THAT(data_error([&] { load_checkpoint(file); }), HasSubstr("unexpected bytes"));
}

TEST_F(CheckpointTest, CorruptedFileIsADataErrorNamingTheFile) {
  const std::string bytes = encode_checkpoint(sample_checkpoint(study_config()));
  const fs::path file = dir_ / "seed-0.bin";
  // One flipped bit anywhere in the payload or the checksum.
  for (std::size_t at : {std::size_t{24}, bytes.size() / 3, bytes.size() - 30, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    write(file, bad);
    EXPECT_THAT(data_error([&] { load_checkpoint(file); }), AllOf(HasSubstr(file.string()), HasSubstr("checksum")))
        << at;
  }
  std::string bad = bytes;
  bad[0] = 'X';
  write(file, bad);
  EXPECT_THAT(data_error([&] { load_checkpoint(file); }), HasSubstr("not a diffgen checkpoint"));
  bad = bytes;
  bad[8] = 9;  // format version 9
  write(file, bad);
  EXPECT_THAT(data_error([&] { load_checkpoint(file); }), AllOf(HasSubstr("version 9"), HasSubstr(file.string())));
  // A missing file is named too.
  EXPECT_THAT(data_error([&] { load_checkpoint(dir_ / "none.bin"); }),
              AllOf(HasSubstr("none.bin"), HasSubstr("does not exist")));
}

TEST_F(CheckpointTest, InconsistentContentsAreRefusedEvenWithAValidChecksum) {
  StudyCheckpoint c = sample_checkpoint(study_config());
  c.rows.pop_back();  // rows end before the trainer's epoch
  EXPECT_THAT(data_error([&] { decode_checkpoint(encode_checkpoint(c), "x.bin"); }),
              AllOf(HasSubstr("x.bin"), HasSubstr("inconsistent"), HasSubstr("rows")));
  c = sample_checkpoint(study_config());
  c.config_fingerprint ^= 1;
  EXPECT_THAT(data_error([&] { decode_checkpoint(encode_checkpoint(c), "x.bin"); }), HasSubstr("fingerprint"));
}

TEST_F(CheckpointTest, OtherSettingsAreAConfigErrorNamingWhatDiffers) {
  const Config config = study_config();
  const StudyCheckpoint c = sample_checkpoint(config);
  const fs::path file = dir_ / "seed-2.bin";
  EXPECT_NO_THROW(check_checkpoint_matches(c, file, "early-stopping", config, 3, 2));

  Config other = config;
  other.set("epochs", "500");
  other.set("lr", "0.25");
  try {
    check_checkpoint_matches(c, file, "early-stopping", other, 3, 2);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()),
                AllOf(HasSubstr(file.string()), HasSubstr("epochs = 2000 in the checkpoint, 500 now"),
                      HasSubstr("lr = 0.5 in the checkpoint, 0.25 now")));
  }
  EXPECT_THROW(check_checkpoint_matches(c, file, "early-stopping", config, 4, 2), ConfigError);
  EXPECT_THROW(check_checkpoint_matches(c, file, "early-stopping", config, 3, 1), ConfigError);
  EXPECT_THROW(check_checkpoint_matches(c, file, "another-experiment", config, 3, 2), ConfigError);
}

// A small study: cheap grids, both KL definitions, a few checkpoints.
Config small_config(const std::string& optimizer) {
  Config c = study_config();
  for (const char* a : {"n=64", "epochs=24", "kl.every=4", "kl_ode.every=12", "kl.points=401", "kl_ode.points=41",
                        "plot.epochs=0,12,24", "checkpoint.every=5"})
    c.set_from_assignment(a);
  c.set("optimizer", optimizer);
  if (optimizer == "adam") c.set("lr", "0.01");
  return c;
}

void expect_same_results(const SeedResult& a, const SeedResult& b) {
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(a.rows[i].epoch, b.rows[i].epoch);
    EXPECT_EQ(a.rows[i].steps, b.rows[i].steps);
    expect_same_bits(a.rows[i].train_loss, b.rows[i].train_loss);
    expect_same_bits(a.rows[i].kl_a, b.rows[i].kl_a);
    expect_same_bits(a.rows[i].kl_b, b.rows[i].kl_b);
    // The memorization measures are evaluated after training from the kept
    // parameters, so a resumed seed recomputes them bit for bit.
    for (const auto field : {&StudyRow::kl_a_small, &StudyRow::kl_emp_a, &StudyRow::kl_emp_a_small,
                             &StudyRow::weight_right, &StudyRow::memorized_fraction, &StudyRow::nn_distance,
                             &StudyRow::nn_distance_fresh, &StudyRow::memorized_baseline})
      expect_same_bits(a.rows[i].*field, b.rows[i].*field);
  }
  ASSERT_EQ(a.snapshots.size(), b.snapshots.size());
  for (std::size_t i = 0; i < a.snapshots.size(); ++i) {
    EXPECT_EQ(a.snapshots[i].log_q_a, b.snapshots[i].log_q_a);
    EXPECT_EQ(a.snapshots[i].log_q_b, b.snapshots[i].log_q_b);
  }
  expect_same_bits(a.floors.empirical_a, b.floors.empirical_a);
  EXPECT_FALSE(a.failure || b.failure);
}

// Stopped at an epoch boundary (as Ctrl-C does) and continued from the saved
// checkpoint, a seed gives bit for bit what an uninterrupted run gives.
TEST_F(CheckpointTest, InterruptedStudyResumesBitIdentically) {
  for (const std::string optimizer : {"sgd", "adam"}) {
    SCOPED_TRACE(optimizer);
    const Config config = small_config(optimizer);
    const TrainingStudySettings s = TrainingStudySettings::from_config(config);
    const SeedResult whole = run_training_study(s, 1);
    ASSERT_FALSE(whole.interrupted);

    const fs::path file = checkpoint_path(dir_ / optimizer, 1);
    StudyCheckpointing first{file, "early-stopping", config.to_toml(), 2, std::nullopt};
    Index epochs_done = 0;
    // Stop after 13 epochs: past the checkpoint of epoch 10, so the stop itself must save.
    const SeedResult stopped = run_training_study(
        s, 1,
        [&](Index units) {
          if ((epochs_done += units) == 13) request_interrupt();
        },
        first);
    EXPECT_TRUE(stopped.interrupted);
    EXPECT_TRUE(stopped.rows.empty());
    clear_interrupt();

    StudyCheckpoint c = load_checkpoint(file);
    EXPECT_EQ(c.trainer.epoch, 13);
    check_checkpoint_matches(c, file, "early-stopping", config, 2, 1);
    check_resumable(c, s, file);
    StudyCheckpointing second{file, "early-stopping", config.to_toml(), 2, std::move(c)};
    const SeedResult resumed = run_training_study(s, 1, {}, std::move(second));
    EXPECT_FALSE(resumed.interrupted);
    EXPECT_EQ(resumed.resumed_from_epoch, 13);
    expect_same_results(whole, resumed);
    // The last checkpoint is at the final epoch.
    EXPECT_EQ(load_checkpoint(file).trainer.epoch, 24);
  }
}

// checkpoint.every = 0 saves nothing along the way, but a stop still saves.
TEST_F(CheckpointTest, StopSavesEvenWithoutPeriodicCheckpoints) {
  Config config = small_config("sgd");
  config.set("checkpoint.every", "0");
  const TrainingStudySettings s = TrainingStudySettings::from_config(config);
  const fs::path file = checkpoint_path(dir_, 0);
  const SeedResult done = run_training_study(s, 0, {}, {file, "early-stopping", config.to_toml(), 1, std::nullopt});
  EXPECT_FALSE(done.interrupted);
  EXPECT_FALSE(fs::exists(file));
  Index epochs_done = 0;
  const SeedResult stopped = run_training_study(s, 0,
                                                [&](Index units) {
                                                  if ((epochs_done += units) == 7) request_interrupt();
                                                },
                                                {file, "early-stopping", config.to_toml(), 1, std::nullopt});
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(load_checkpoint(file).trainer.epoch, 7);
  // A seed asked to stop before it starts leaves its checkpoint alone.
  const SeedResult not_started =
      run_training_study(s, 0, {}, {file, "early-stopping", config.to_toml(), 1, std::nullopt});
  EXPECT_TRUE(not_started.interrupted);
  EXPECT_EQ(load_checkpoint(file).trainer.epoch, 7);
}

TEST_F(CheckpointTest, CheckpointThatDoesNotFitTheModelIsRefused) {
  const Config config = small_config("sgd");
  const TrainingStudySettings s = TrainingStudySettings::from_config(config);
  const fs::path file = checkpoint_path(dir_, 0);
  run_training_study(s, 0, {}, {file, "early-stopping", config.to_toml(), 1, std::nullopt});
  const StudyCheckpoint good = load_checkpoint(file);
  EXPECT_NO_THROW(check_resumable(good, s, file));

  StudyCheckpoint c = good;
  c.parameters.conservativeResize(c.parameters.size() + 1);
  for (auto& k : c.kept) k.parameters.conservativeResize(c.parameters.size());
  EXPECT_THAT(data_error([&] { check_resumable(c, s, file); }),
              AllOf(HasSubstr(file.string()), HasSubstr("parameters")));
  c = good;
  c.kept.pop_back();
  EXPECT_THAT(data_error([&] { check_resumable(c, s, file); }), HasSubstr("epoch 24"));
  c = good;
  c.trainer.optimizer.values = Vector::Zero(3);
  EXPECT_THAT(data_error([&] { check_resumable(c, s, file); }), HasSubstr("optimizer"));
}

}  // namespace
}  // namespace diffgen
