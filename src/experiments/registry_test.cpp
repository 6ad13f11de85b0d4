#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "experiments/experiment.hpp"

namespace diffgen {
namespace {

// Every experiment has a preset configs/NAME.toml that names every key of
// its schema with exactly its default value, so the preset documents the
// defaults and `--config configs/NAME.toml` changes nothing.
TEST(Registry, EveryExperimentHasAPresetWithEveryKeyAtItsDefault) {
  ASSERT_FALSE(experiments().empty());
  for (const auto& e : experiments()) {
    const std::filesystem::path preset = std::filesystem::path(DIFFGEN_SOURCE_DIR) / "configs" / (e->name() + ".toml");
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

}  // namespace
}  // namespace diffgen
