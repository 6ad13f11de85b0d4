// The optimizer switch of the training study (switch.epoch, Li2023 Fig. 10):
// the run equals plain SGD up to the switch, then differs; a checkpoint on
// either side of the switch resumes to the same numbers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "experiments/checkpoint.hpp"
#include "experiments/training_study.hpp"

namespace diffgen {
namespace {

Config small_config(Index switch_epoch) {
  Schema schema;
  add_training_study_keys(schema);
  Config c(schema);
  for (const char* kv : {"n=64", "epochs=6", "kl.every=3", "kl_ode.every=0", "memorization.every=0", "batch=16",
                         "checkpoint.every=0", "plot.epochs=0"})
    c.set_from_assignment(kv);
  c.set_value("switch.epoch", static_cast<std::int64_t>(switch_epoch));
  return c;
}

TEST(OptimizerSwitch, FollowsSgdUntilTheSwitchThenAdam) {
  const auto plain = run_training_study(TrainingStudySettings::from_config(small_config(0)), 0);
  const auto switched = run_training_study(TrainingStudySettings::from_config(small_config(3)), 0);
  ASSERT_EQ(plain.rows.size(), switched.rows.size());
  for (const auto& r : plain.rows) {
    const auto& w = switched.rows[static_cast<std::size_t>(&r - plain.rows.data())];
    if (r.epoch <= 3) {
      if (r.epoch > 0) EXPECT_EQ(r.train_loss, w.train_loss) << "epoch " << r.epoch;
      if (std::isfinite(r.kl_a)) EXPECT_EQ(r.kl_a, w.kl_a) << "epoch " << r.epoch;
    } else {
      EXPECT_NE(r.train_loss, w.train_loss) << "epoch " << r.epoch << ": Adam at 1e-4 is not SGD at 0.5";
    }
  }
}

TEST(OptimizerSwitch, ResumesToTheSameNumbersFromEitherSideOfTheSwitch) {
  const Config config = small_config(3);
  const auto settings = TrainingStudySettings::from_config(config);
  const auto whole = run_training_study(settings, 1);
  const auto dir = std::filesystem::temp_directory_path() / ("diffgen-switch-" + std::to_string(::getpid()));
  for (Index stop : {2, 5}) {
    // Stop at the epoch boundary after `stop` epochs (as Ctrl-C would), then continue from its checkpoint.
    const auto file = dir / ("seed-" + std::to_string(stop) + ".bin");
    clear_interrupt();
    Index epochs_done = 0;
    const auto first = run_training_study(
        settings, 1,
        [&](Index units) {
          if (units == 1 && ++epochs_done == stop) request_interrupt();
        },
        StudyCheckpointing{file, "test", config.to_toml(), 2, std::nullopt});
    clear_interrupt();
    ASSERT_TRUE(first.interrupted);
    StudyCheckpoint saved = load_checkpoint(file);
    ASSERT_EQ(saved.trainer.epoch, stop);
    check_resumable(saved, settings, file);
    const auto resumed = run_training_study(
        settings, 1, {}, StudyCheckpointing{file, "test", config.to_toml(), 2, std::move(saved)});
    ASSERT_EQ(resumed.rows.size(), whole.rows.size());
    for (std::size_t i = 0; i < whole.rows.size(); ++i) {
      if (whole.rows[i].epoch > 0) EXPECT_EQ(whole.rows[i].train_loss, resumed.rows[i].train_loss) << i;
      if (std::isfinite(whole.rows[i].kl_a)) EXPECT_EQ(whole.rows[i].kl_a, resumed.rows[i].kl_a) << "stop " << stop;
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(OptimizerSwitch, ASwitchAtOrAfterTheLastEpochIsRefused) {
  EXPECT_THROW(TrainingStudySettings::from_config(small_config(6)), ConfigError);
  EXPECT_NO_THROW(TrainingStudySettings::from_config(small_config(5)));
}

}  // namespace
}  // namespace diffgen
