#include "experiments/early_stopping.hpp"

#include <gtest/gtest.h>

namespace diffgen {
namespace {

// configs/early-stopping.toml is the default preset: it must name every key
// of the schema, each with exactly its default value.
TEST(EarlyStoppingPreset, NamesEveryKeyWithItsDefault) {
  const EarlyStoppingExperiment experiment;
  Config config(experiment.schema());
  config.merge_toml_file(std::string(DIFFGEN_SOURCE_DIR) + "/configs/early-stopping.toml");
  for (const auto& spec : config.schema().keys()) {
    EXPECT_TRUE(config.is_user_set(spec.key)) << spec.key << " is missing from the preset";
    EXPECT_EQ(config.get(spec.key), spec.default_value) << spec.key << " differs from its default";
  }
}

}  // namespace
}  // namespace diffgen
