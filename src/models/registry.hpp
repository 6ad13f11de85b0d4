// The trainable score models by name, and their settings as configuration.
// model.kind picks one; each model reads its own sub-table (model.mlp.*,
// model.random_features.*). Adding a model: its files in src/models/, its
// options member and keys below (registry.cpp), and one line in the registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "core/rng.hpp"
#include "models/random_features.hpp"
#include "models/reference_mlp.hpp"
#include "sde/sde.hpp"

namespace diffgen {

struct ModelOptions {
  std::string kind = "mlp";              // a name of score_model_names()
  ReferenceMlpOptions mlp;               // model.mlp.*
  RandomFeatureOptions random_features;  // model.random_features.*
  // Empty when valid, else what is wrong (naming the keys).
  std::string validate() const;
};

// The random-feature model's keys model.random_features.* alone (the flow
// studies train only it).
const OptionTable<RandomFeatureOptions>& random_feature_options();

// model.kind and every model's keys.
const OptionTable<ModelOptions>& model_options();

// The names model.kind allows, in registry order.
std::vector<std::string> score_model_names();

// A fresh model of `options.kind` in dimension `dim`, its random parts drawn
// from rng. ConfigError for an unknown kind or invalid options.
std::unique_ptr<TrainableScoreModel> make_score_model(const ModelOptions& options, Index dim,
                                                      std::shared_ptr<const Sde> sde, Rng& rng);

}  // namespace diffgen
