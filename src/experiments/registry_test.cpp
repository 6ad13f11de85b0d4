// The registry of experiments: unique names, presets that document every
// default, old key names refused with their new names, and a plan of every
// experiment at its defaults (tasks with unique keys, needs that point back).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "experiments/experiment.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every experiment has a preset configs/NAME.toml that names every key of
// its schema with exactly its default value, so the preset documents the
// defaults and `--config configs/NAME.toml` changes nothing.
TEST(Registry, EveryExperimentHasAPresetWithEveryKeyAtItsDefault) {
  ASSERT_EQ(experiments().size(), 10u);
  for (const auto& e : experiments()) {
    const auto preset = std::filesystem::path(DIFFGEN_SOURCE_DIR) / "configs" / (e->name() + ".toml");
    ASSERT_TRUE(std::filesystem::exists(preset)) << preset << " is missing";
    Config config(e->schema());
    config.merge_toml_file(preset);
    for (const auto& spec : config.schema().keys()) {
      EXPECT_TRUE(config.is_user_set(spec.key)) << e->name() << ": " << spec.key << " is missing from the preset";
      EXPECT_EQ(config.get(spec.key), spec.default_value) << e->name() << ": " << spec.key << " differs";
    }
    EXPECT_NO_THROW(e->validate(config)) << e->name() << ": its own defaults are refused";
  }
}

TEST(Registry, NamesAreUniqueAndFoundAndPurposesSaySomething) {
  std::set<std::string> names;
  for (const auto& e : experiments()) {
    EXPECT_TRUE(names.insert(e->name()).second) << e->name() << " is registered twice";
    EXPECT_EQ(find_experiment(e->name()), e.get());
    EXPECT_GT(e->purpose().size(), 20u) << e->name();
  }
  EXPECT_EQ(find_experiment("no-such-experiment"), nullptr);
}

TEST(Registry, EveryKeyIsDescribed) {
  for (const auto& e : experiments()) {
    const Schema schema = e->schema();
    for (const auto& spec : schema.keys()) EXPECT_GT(spec.description.size(), 10u) << e->name() << ": " << spec.key;
  }
}

TEST(Registry, OldKeyNamesAreRefusedWithTheirNewNames) {
  Config early(find_experiment("early-stopping")->schema());
  for (const auto& [old_key, new_key] : std::vector<std::pair<std::string, std::string>>{
           {"lr", "train.lr"}, {"n", "data.n"}, {"hidden", "model.mlp.hidden"}, {"kl_ode.every", "kl.ode.every"},
           {"memorization.steps", "sampler.steps"}}) {
    try {
      early.set(old_key, "1");
      ADD_FAILURE() << old_key << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(std::string(e.what()), HasSubstr("renamed to '" + new_key + "'"));
    }
  }
  // An old name means the key of the experiment's own concept.
  Config flow(find_experiment("gradient-flow")->schema());
  try {
    flow.set("embed_scale", "1");
    ADD_FAILURE() << "embed_scale was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("'model.random_features.embed_scale'"));
  }
  // Where the new name is no key of the experiment, the old one is simply unknown.
  try {
    flow.set("momentum", "0.9");
    ADD_FAILURE() << "momentum was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), Not(HasSubstr("renamed")));
  }
}

TEST(Registry, EveryPlanAtItsDefaultsHasUniqueTaskKeysAndNeedsThatPointBack) {
  for (const auto& e : experiments()) {
    const Config config(e->schema());
    const auto study = e->plan(config, 2);
    const auto& tasks = study->tasks();
    ASSERT_FALSE(tasks.empty()) << e->name();
    std::set<std::string> keys;
    Index kept = 0;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      EXPECT_TRUE(keys.insert(tasks[i].key).second) << e->name() << ": task key " << tasks[i].key << " twice";
      EXPECT_GT(tasks[i].cost, 0.0) << e->name() << ": " << tasks[i].key;
      EXPECT_GE(tasks[i].units, 1) << e->name() << ": " << tasks[i].key;
      for (const Index j : tasks[i].needs) EXPECT_LT(static_cast<std::size_t>(j), i) << e->name() << ": " << tasks[i].key;
      kept += tasks[i].keep ? 1 : 0;
    }
    EXPECT_GE(kept, 2) << e->name() << ": two seeds are at least two results";
  }
}

}  // namespace
}  // namespace diffgen
