#include "models/registry.hpp"

#include <functional>

#include "core/error.hpp"

namespace diffgen {
namespace {

using Factory = std::function<std::unique_ptr<TrainableScoreModel>(const ModelOptions&, Index dim,
                                                                   std::shared_ptr<const Sde>, Rng&)>;
struct Entry {
  const char* name;
  Factory make;
};

// The registry: one line per model.
const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries{
      {"mlp", [](const ModelOptions& o, Index d, auto sde, Rng& rng) {
         return std::make_unique<ReferenceMlp>(d, o.mlp, std::move(sde), rng);
       }},
      {"random-features", [](const ModelOptions& o, Index d, auto, Rng& rng) {
         return std::make_unique<RandomFeatureModel>(d, o.random_features, rng);
       }},
  };
  return entries;
}

const Entry* find(const std::string& name) {
  for (const auto& e : registry())
    if (name == e.name) return &e;
  return nullptr;
}

OptionTable<ReferenceMlpOptions> mlp_keys() {
  using O = ReferenceMlpOptions;
  OptionTable<O> t;
  t.add("model.mlp.hidden", [](O& o) -> auto& { return o.hidden; }, "hidden units H", {.min = 1, .max = 1e6});
  t.add("model.mlp.output_scale", [](O& o) -> auto& { return o.output_scale; },
        "output multiplied by c / s(t); c = 1/16 in the reference", {.min = 0.0, .min_exclusive = true});
  t.add("model.mlp.output_scaling", [](O& o) -> auto& { return o.scaling; },
        "fixed uses c = output_scale for every width, as the reference does; width uses c = output_scale * "
        "sqrt(16 / hidden) (the same at H = 16), which keeps the initial output and the effect of one SGD step on "
        "it independent of H, where the fixed c makes wide networks diverge at lr 0.5");
  t.add("model.mlp.embed_dim", [](O& o) -> auto& { return o.embed_dim; },
        "width E of the Fourier time embedding (even)", {.min = 2, .max = 4096});
  t.add("model.mlp.embed_scale", [](O& o) -> auto& { return o.embed_scale; },
        "frequencies of the time embedding are N(0,1)·embed_scale", {.min = 0.0, .min_exclusive = true});
  return t;
}

}  // namespace

std::vector<std::string> score_model_names() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.emplace_back(e.name);
  return names;
}

const OptionTable<RandomFeatureOptions>& random_feature_options() {
  using O = RandomFeatureOptions;
  static const OptionTable<O> table = [] {
  OptionTable<O> t;
  t.add("model.random_features.width", [](O& o) -> auto& { return o.width; }, "number of random features m",
        {.min = 1, .max = 1e6});
  t.add("model.random_features.embed_dim", [](O& o) -> auto& { return o.embed_dim; },
        "width E of the Fourier time embedding (even)", {.min = 2, .max = 4096});
  t.add("model.random_features.embed_scale", [](O& o) -> auto& { return o.embed_scale; },
        "frequencies of the time embedding are N(0,1)·embed_scale", {.min = 0.0, .min_exclusive = true});
  t.add("model.random_features.init_std", [](O& o) -> auto& { return o.init_std; },
        "the coefficients A start at 0, or with N(0, init_std²) entries when > 0", {.min = 0.0});
  return t;
  }();
  return table;
}

std::string ModelOptions::validate() const {
  if (!find(kind)) return "model.kind = '" + kind + "' is not a score model";
  if (kind == "mlp" && mlp.embed_dim % 2 != 0)
    return "model.mlp.embed_dim = " + std::to_string(mlp.embed_dim) + " must be even";
  if (kind == "random-features" && random_features.embed_dim % 2 != 0)
    return "model.random_features.embed_dim = " + std::to_string(random_features.embed_dim) + " must be even";
  if (auto e = mlp.validate(); kind == "mlp" && !e.empty()) return "model.mlp: " + e;
  if (auto e = random_features.validate(); kind == "random-features" && !e.empty()) return "model.random_features: " + e;
  return {};
}

const OptionTable<ModelOptions>& model_options() {
  static const auto table = [] {
    OptionTable<ModelOptions> t;
    t.add("model.kind", [](ModelOptions& o) -> auto& { return o.kind; },
          "score model: the reference network (mlp) or the random-feature model of Li2023 eq. 12",
          {.choices = score_model_names()});
    t.include(mlp_keys(), [](ModelOptions& o) -> auto& { return o.mlp; });
    t.include(random_feature_options(), [](ModelOptions& o) -> auto& { return o.random_features; });
    return t;
  }();
  return table;
}

std::unique_ptr<TrainableScoreModel> make_score_model(const ModelOptions& options, Index dim,
                                                      std::shared_ptr<const Sde> sde, Rng& rng) {
  if (auto e = options.validate(); !e.empty()) throw ConfigError(e);
  return find(options.kind)->make(options, dim, std::move(sde), rng);
}

}  // namespace diffgen
