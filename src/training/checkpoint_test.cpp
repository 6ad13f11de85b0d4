#include "training/checkpoint.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class CheckpointTest : public ::testing::Test {
 protected:
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static void write(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

  TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

// The message of the exception E that `f` throws; fails the test if it throws nothing else.
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception";
  return {};
}

// A small study's settings: a scalar of each kind, a nested key and a list.
Config study_config() {
  Schema s;
  s.add_int("epochs", 2000, "Training epochs.", 0)
      .add_double("lr", 0.5, "Learning rate.", 0.0, std::nullopt, true)
      .add_string("optimizer", "sgd", "Optimizer.", {"sgd", "adam"})
      .add_bool("kl.exact", true, "Exact divergence.");
  KeySpec ns;
  ns.key = "kl.ns";
  ns.type = ValueType::IntList;
  ns.default_value = IntList{2, 4};
  ns.description = "Sizes.";
  s.add(ns);
  return Config(s);
}

// A checkpoint with every field away from its default: a NaN loss at epoch 0,
// a cached normal in the RNG state, and parameters of every kind of double.
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
  c.parameters.resize(6);
  c.parameters << 0.1, -0.0, std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::infinity(),
      std::bit_cast<double>(std::uint64_t{0x7ff8000000000123}), -1e308;  // a NaN with a payload
  c.rows = {{0, 0, kNaN}, {1, 4, 1.25}, {2, 8, 0.1 + 0.2}};
  c.kept = {{0, Vector::Constant(6, 1e-300)}, {2, Vector::Constant(6, -7.5)}};
  return c;
}

std::uint64_t bits(double x) {
  return std::bit_cast<std::uint64_t>(x);
}

void expect_same_bits(const Vector& a, const Vector& b) {
  ASSERT_EQ(a.size(), b.size());
  for (Index i = 0; i < a.size(); ++i) EXPECT_EQ(bits(a[i]), bits(b[i])) << i;
}

TEST_F(CheckpointTest, RoundTripKeepsEveryBit) {
  const Config config = study_config();
  const StudyCheckpoint c = sample_checkpoint(config);
  const fs::path file = checkpoint_path(dir_, 2);
  EXPECT_EQ(file, dir_ / "checkpoints" / "seed-2.bin");
  save_checkpoint(file, c);  // creates checkpoints/
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
  EXPECT_EQ(bits(r.trainer.rng.spare), bits(c.trainer.rng.spare));
  EXPECT_EQ(r.trainer.optimizer.step, 8);
  expect_same_bits(r.trainer.optimizer.values, c.trainer.optimizer.values);
  expect_same_bits(r.parameters, c.parameters);
  ASSERT_EQ(r.rows.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.rows[i].epoch, c.rows[i].epoch);
    EXPECT_EQ(r.rows[i].steps, c.rows[i].steps);
    EXPECT_EQ(bits(r.rows[i].train_loss), bits(c.rows[i].train_loss));
  }
  EXPECT_TRUE(std::isnan(r.rows[0].train_loss));
  ASSERT_EQ(r.kept.size(), 2u);
  EXPECT_EQ(r.kept[0].epoch, 0);
  EXPECT_EQ(r.kept[1].epoch, 2);
  expect_same_bits(r.kept[0].parameters, c.kept[0].parameters);
  expect_same_bits(r.kept[1].parameters, c.kept[1].parameters);
  // The same state encodes to the same bytes.
  EXPECT_EQ(encode_checkpoint(r), read(file));
  // Nothing but the checkpoint is left in the folder (no temporary file).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "checkpoints"), fs::directory_iterator{}), 1);
}

TEST_F(CheckpointTest, RoundTripOfEmptyAndFreshStates) {
  // Before training: epoch 0, no optimizer state, nothing kept, no cached normal.
  Config config = study_config();
  StudyCheckpoint c;
  c.experiment = "";
  c.config_toml = config.to_toml();
  c.config_fingerprint = config_fingerprint(c.config_toml);
  c.seeds = 1;
  c.parameters = Vector::Zero(0);
  c.rows = {{0, 0, kNaN}};
  const StudyCheckpoint r = decode_checkpoint(encode_checkpoint(c), "fresh.bin");
  EXPECT_EQ(r.experiment, "");
  EXPECT_EQ(r.trainer.epoch, 0);
  EXPECT_FALSE(r.trainer.rng.has_spare);
  EXPECT_EQ(r.trainer.optimizer.values.size(), 0);
  EXPECT_EQ(r.parameters.size(), 0);
  EXPECT_TRUE(r.kept.empty());
  EXPECT_EQ(encode_checkpoint(r), encode_checkpoint(c));
}

TEST_F(CheckpointTest, TheHeaderIsTheDocumentedFormat) {
  const std::string bytes = encode_checkpoint(sample_checkpoint(study_config()));
  ASSERT_GT(bytes.size(), 32u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("DGCKPT\r\n"));
  EXPECT_EQ(bytes.substr(8, 4), std::string("\x01\0\0\0", 4));  // version 1, little-endian
  EXPECT_EQ(bytes.substr(12, 4), std::string(4, '\0'));         // reserved
  std::uint64_t payload = 0;
  for (int i = 0; i < 8; ++i)
    payload |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[16 + i])) << (8 * i);
  EXPECT_EQ(payload + 24 + 8, bytes.size());
  EXPECT_EQ(kCheckpointVersion, 1u);
  // Equal settings give equal fingerprints (FNV-1a 64 of the text).
  EXPECT_EQ(config_fingerprint(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(config_fingerprint("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_NE(config_fingerprint("lr = 0.5\n"), config_fingerprint("lr = 0.25\n"));
}

TEST_F(CheckpointTest, EveryTruncationIsADataErrorNamingTheFile) {
  const std::string bytes = encode_checkpoint(sample_checkpoint(study_config()));
  for (std::size_t keep = 0; keep < bytes.size(); ++keep) {
    const std::string message = error_of<DataError>([&] { decode_checkpoint(bytes.substr(0, keep), "seed-0.bin"); });
    EXPECT_THAT(message, HasSubstr("'seed-0.bin'")) << keep;
    if (keep == 0) {
      EXPECT_THAT(message, HasSubstr("empty"));
    } else if (keep < 8) {
      EXPECT_THAT(message, HasSubstr("not a diffgen checkpoint")) << keep;
    } else {
      EXPECT_THAT(message, HasSubstr("truncated")) << keep;
    }
  }
  // Through a file, the message names its path.
  const fs::path file = dir_ / "seed-0.bin";
  for (std::size_t keep : {std::size_t{0}, std::size_t{5}, std::size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    write(file, bytes.substr(0, keep));
    EXPECT_THAT(error_of<DataError>([&] { load_checkpoint(file); }), HasSubstr(file.string())) << keep;
  }
  write(file, bytes + "x");
  EXPECT_THAT(error_of<DataError>([&] { load_checkpoint(file); }),
              AllOf(HasSubstr(file.string()), HasSubstr("1 unexpected bytes")));
}

TEST_F(CheckpointTest, EverySingleBitFlipIsADataError) {
  const std::string bytes = encode_checkpoint(sample_checkpoint(study_config()));
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = bytes;
      bad[at] = static_cast<char>(bad[at] ^ (1 << bit));
      const std::string message = error_of<DataError>([&] { decode_checkpoint(bad, "seed-1.bin"); });
      EXPECT_THAT(message, HasSubstr("'seed-1.bin'")) << at << ":" << bit;
      // In the payload or the checksum, the checksum catches it.
      if (at >= 24) {
        EXPECT_THAT(message, HasSubstr("checksum")) << at << ":" << bit;
      }
    }
  }
  // Through a file, a few of them, and what each header field says.
  const fs::path file = dir_ / "seed-1.bin";
  for (std::size_t at : {std::size_t{24}, bytes.size() / 3, bytes.size() - 30, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    write(file, bad);
    EXPECT_THAT(error_of<DataError>([&] { load_checkpoint(file); }),
                AllOf(HasSubstr(file.string()), HasSubstr("checksum")))
        << at;
  }
  std::string bad = bytes;
  bad[0] = 'X';
  EXPECT_THAT(error_of<DataError>([&] { decode_checkpoint(bad, "x.bin"); }), HasSubstr("not a diffgen checkpoint"));
  bad = bytes;
  bad[8] = 9;
  EXPECT_THAT(error_of<DataError>([&] { decode_checkpoint(bad, "x.bin"); }),
              AllOf(HasSubstr("format version 9"), HasSubstr("version 1")));
  bad = bytes;
  bad[13] = 1;
  EXPECT_THAT(error_of<DataError>([&] { decode_checkpoint(bad, "x.bin"); }), HasSubstr("reserved"));
}

TEST_F(CheckpointTest, MissingOrUnreadableFilesAreNamed) {
  EXPECT_THAT(error_of<DataError>([&] { load_checkpoint(dir_ / "none.bin"); }),
              AllOf(HasSubstr("none.bin"), HasSubstr("does not exist")));
  EXPECT_THAT(error_of<DataError>([&] { load_checkpoint(dir_); }),
              AllOf(HasSubstr(dir_.string()), HasSubstr("not a regular file")));
  // Saving where a folder cannot be made is a DataError too.
  write(dir_ / "plain", "x");
  EXPECT_THROW(save_checkpoint(dir_ / "plain" / "seed-0.bin", sample_checkpoint(study_config())), DataError);
}

TEST_F(CheckpointTest, InconsistentContentsAreRefusedEvenWithAValidChecksum) {
  const Config config = study_config();
  const auto refused = [](const StudyCheckpoint& c) {
    return error_of<DataError>([&] { decode_checkpoint(encode_checkpoint(c), "x.bin"); });
  };
  StudyCheckpoint c = sample_checkpoint(config);
  c.rows.pop_back();  // rows end before the trainer's epoch
  EXPECT_THAT(refused(c), AllOf(HasSubstr("'x.bin'"), HasSubstr("inconsistent"), HasSubstr("2 rows for epoch 2")));
  c = sample_checkpoint(config);
  c.config_fingerprint ^= 1;
  EXPECT_THAT(refused(c), HasSubstr("fingerprint"));
  c = sample_checkpoint(config);
  c.seed_index = 3;
  EXPECT_THAT(refused(c), HasSubstr("seed 3 outside 0..2"));
  c = sample_checkpoint(config);
  c.seeds = 0;
  c.seed_index = 0;
  EXPECT_THAT(refused(c), HasSubstr("seed count 0"));
  c = sample_checkpoint(config);
  c.rows[1].epoch = 5;
  EXPECT_THAT(refused(c), HasSubstr("row 1 is for epoch 5"));
  c = sample_checkpoint(config);
  c.rows[2].steps = 3;
  EXPECT_THAT(refused(c), HasSubstr("steps decrease at epoch 2"));
  c = sample_checkpoint(config);
  c.trainer.steps = 9;
  EXPECT_THAT(refused(c), HasSubstr("the last row has 8 steps, the trainer 9"));
  c = sample_checkpoint(config);
  c.kept = {{2, Vector::Zero(6)}, {0, Vector::Zero(6)}};  // out of order
  EXPECT_THAT(refused(c), HasSubstr("kept parameters for epoch 0"));
  c = sample_checkpoint(config);
  c.kept = {{3, Vector::Zero(6)}};  // after the trained epoch
  EXPECT_THAT(refused(c), HasSubstr("kept parameters for epoch 3"));
  c = sample_checkpoint(config);
  c.kept[1].parameters = Vector::Zero(5);
  EXPECT_THAT(refused(c), HasSubstr("have 5 values, the model 6"));
}

TEST_F(CheckpointTest, OtherSettingsAreAConfigErrorNamingEachKeyThatDiffers) {
  const Config config = study_config();
  const StudyCheckpoint c = sample_checkpoint(config);
  const fs::path file = dir_ / "seed-2.bin";
  EXPECT_NO_THROW(check_checkpoint_matches(c, file, "early-stopping", config, 3, 2));

  Config other = config;
  other.set("epochs", "500");
  other.set("lr", "0.25");
  other.set("kl.ns", "2,4,8");
  const std::string message =
      error_of<ConfigError>([&] { check_checkpoint_matches(c, file, "early-stopping", other, 3, 2); });
  EXPECT_THAT(message, AllOf(HasSubstr(file.string()), HasSubstr("epochs = 2000 in the checkpoint, 500 now"),
                             HasSubstr("lr = 0.5 in the checkpoint, 0.25 now"),
                             HasSubstr("kl.ns = [2, 4] in the checkpoint, [2, 4, 8] now"), Not(HasSubstr("optimizer")),
                             Not(HasSubstr("kl.exact"))));

  Config one = config;
  one.set("optimizer", "adam");
  EXPECT_THAT(error_of<ConfigError>([&] { check_checkpoint_matches(c, file, "early-stopping", one, 3, 2); }),
              AllOf(HasSubstr("optimizer = sgd in the checkpoint, adam now"), Not(HasSubstr("epochs"))));
}

TEST_F(CheckpointTest, AnotherRunSeedOrSeedCountIsAConfigError) {
  const Config config = study_config();
  const StudyCheckpoint c = sample_checkpoint(config);
  const fs::path file = dir_ / "seed-2.bin";
  EXPECT_THAT(error_of<ConfigError>([&] { check_checkpoint_matches(c, file, "mode-shift", config, 3, 2); }),
              AllOf(HasSubstr(file.string()), HasSubstr("'early-stopping', not 'mode-shift'")));
  EXPECT_THAT(error_of<ConfigError>([&] { check_checkpoint_matches(c, file, "early-stopping", config, 3, 1); }),
              HasSubstr("holds seed 2, not seed 1"));
  EXPECT_THAT(error_of<ConfigError>([&] { check_checkpoint_matches(c, file, "early-stopping", config, 4, 2); }),
              HasSubstr("--seeds 3; this one has --seeds 4"));
}

TEST_F(CheckpointTest, SettingsThatCannotBeReadBackAreNamed) {
  const Config config = study_config();
  const fs::path file = dir_ / "seed-2.bin";
  // Written by a diffgen with another key.
  StudyCheckpoint c = sample_checkpoint(config);
  c.config_toml += "\nremoved_key = 3\n";
  c.config_fingerprint = config_fingerprint(c.config_toml);
  EXPECT_THAT(error_of<ConfigError>([&] { check_checkpoint_matches(c, file, "early-stopping", config, 3, 2); }),
              AllOf(HasSubstr("does not accept"), HasSubstr("removed_key"), HasSubstr("start a new run")));
  // The same values in another text (a comment changed).
  c = sample_checkpoint(config);
  c.config_toml = "# another comment\n" + c.config_toml;
  c.config_fingerprint = config_fingerprint(c.config_toml);
  EXPECT_THAT(error_of<ConfigError>([&] { check_checkpoint_matches(c, file, "early-stopping", config, 3, 2); }),
              HasSubstr("same values, but the configuration text differs"));
}

}  // namespace
}  // namespace diffgen
