#include "models/registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"

namespace diffgen {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const Sde> ve() {
  return std::make_shared<VeSde>(25.0);
}

template <typename F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(ModelRegistry, NamesInRegistryOrder) {
  EXPECT_THAT(score_model_names(), ElementsAre("mlp", "random-features"));
}

TEST(ModelRegistry, BuildsEachKindWithItsParameterCount) {
  Rng rng(1);
  ModelOptions o;  // the reference MLP: H = 16, E = 4
  const auto mlp = make_score_model(o, 1, ve(), rng);
  EXPECT_EQ(mlp->name(), "reference-mlp");
  EXPECT_EQ(mlp->dim(), 1);
  EXPECT_EQ(mlp->num_parameters(), 129);  // H·d + H + H·E + H + d·H + d
  o.mlp.hidden = 8;
  o.mlp.embed_dim = 6;
  EXPECT_EQ(make_score_model(o, 3, ve(), rng)->num_parameters(), 8 * 3 + 8 + 8 * 6 + 8 + 3 * 8 + 3);

  o.kind = "random-features";
  const auto rf = make_score_model(o, 2, ve(), rng);
  EXPECT_EQ(rf->name(), "random-features");
  EXPECT_EQ(rf->dim(), 2);
  EXPECT_EQ(rf->num_parameters(), 2 * 256);  // d·m, m = 256 by default
  o.random_features.width = 10;
  EXPECT_EQ(make_score_model(o, 3, ve(), rng)->num_parameters(), 30);
  // Every name of the registry builds.
  for (const auto& name : score_model_names()) {
    o.kind = name;
    EXPECT_NO_THROW(make_score_model(o, 1, ve(), rng)) << name;
  }
}

TEST(ModelRegistry, TheSameStreamGivesTheSameModel) {
  ModelOptions o;
  Rng a(7), b(7);
  EXPECT_EQ(make_score_model(o, 2, ve(), a)->parameters(), make_score_model(o, 2, ve(), b)->parameters());
}

TEST(ModelRegistry, UnknownKindOrBadOptionsAreConfigErrors) {
  Rng rng(1);
  ModelOptions o;
  o.kind = "transformer";
  EXPECT_EQ(config_error([&] { make_score_model(o, 1, ve(), rng); }),
            "model.kind = 'transformer' is not a score model");
  EXPECT_EQ(o.validate(), "model.kind = 'transformer' is not a score model");

  o = ModelOptions{};
  o.mlp.embed_dim = 3;
  EXPECT_EQ(config_error([&] { make_score_model(o, 1, ve(), rng); }), "model.mlp.embed_dim = 3 must be even");
  // The options of the kind not built are not checked.
  o.kind = "random-features";
  EXPECT_EQ(o.validate(), "");
  o.random_features.embed_dim = 5;
  EXPECT_EQ(o.validate(), "model.random_features.embed_dim = 5 must be even");
  o = ModelOptions{};
  o.mlp.output_scale = 0.0;
  EXPECT_THAT(config_error([&] { make_score_model(o, 1, ve(), rng); }), HasSubstr("model.mlp: output_scale = 0"));
}

TEST(ModelOptionsKeys, DeclaredWithTheStructsDefaults) {
  EXPECT_THAT(model_options().keys(),
              ElementsAre("model.kind", "model.mlp.hidden", "model.mlp.output_scale", "model.mlp.output_scaling",
                          "model.mlp.embed_dim", "model.mlp.embed_scale", "model.random_features.width",
                          "model.random_features.embed_dim", "model.random_features.embed_scale",
                          "model.random_features.init_std"));
  EXPECT_THAT(random_feature_options().keys(),
              ElementsAre("model.random_features.width", "model.random_features.embed_dim",
                          "model.random_features.embed_scale", "model.random_features.init_std"));
  Schema s;
  model_options().declare(s);
  EXPECT_EQ(s.find("model.kind")->default_value, Value(std::string("mlp")));
  EXPECT_THAT(s.find("model.kind")->choices, ElementsAre("mlp", "random-features"));
  EXPECT_EQ(s.find("model.mlp.hidden")->default_value, Value(std::int64_t{16}));
  EXPECT_EQ(s.find("model.mlp.output_scale")->default_value, Value(1.0 / 16.0));
  EXPECT_EQ(s.find("model.mlp.output_scaling")->default_value, Value(std::string("fixed")));
  EXPECT_THAT(s.find("model.mlp.output_scaling")->choices, ElementsAre("fixed", "width"));
  EXPECT_EQ(s.find("model.mlp.embed_dim")->default_value, Value(std::int64_t{4}));
  EXPECT_EQ(s.find("model.mlp.embed_scale")->default_value, Value(30.0));
  EXPECT_EQ(s.find("model.random_features.width")->default_value, Value(std::int64_t{256}));
  EXPECT_EQ(s.find("model.random_features.init_std")->default_value, Value(0.0));
  // An untouched Config reads back the defaults.
  const ModelOptions d = model_options().read(Config(s));
  EXPECT_EQ(d.kind, "mlp");
  EXPECT_EQ(d.mlp.hidden, 16);
  EXPECT_EQ(d.mlp.scaling, OutputScaling::Fixed);
  EXPECT_EQ(d.random_features.width, 256);
}

TEST(ModelOptionsKeys, EveryKeyReadsBack) {
  Schema s;
  model_options().declare(s);
  Config c(s);
  c.set("model.kind", "random-features");
  c.set("model.mlp.hidden", "64");
  c.set("model.mlp.output_scale", "0.125");
  c.set("model.mlp.output_scaling", "width");
  c.set("model.mlp.embed_dim", "8");
  c.set("model.mlp.embed_scale", "16");
  c.set("model.random_features.width", "512");
  c.set("model.random_features.embed_dim", "6");
  c.set("model.random_features.embed_scale", "2.5");
  c.set("model.random_features.init_std", "0.01");
  const ModelOptions o = model_options().read(c);
  EXPECT_EQ(o.kind, "random-features");
  EXPECT_EQ(o.mlp.hidden, 64);
  EXPECT_EQ(o.mlp.output_scale, 0.125);
  EXPECT_EQ(o.mlp.scaling, OutputScaling::Width);
  EXPECT_EQ(o.mlp.embed_dim, 8);
  EXPECT_EQ(o.mlp.embed_scale, 16.0);
  EXPECT_EQ(o.random_features.width, 512);
  EXPECT_EQ(o.random_features.embed_dim, 6);
  EXPECT_EQ(o.random_features.embed_scale, 2.5);
  EXPECT_EQ(o.random_features.init_std, 0.01);
  // The random-feature table alone reads the same keys.
  const RandomFeatureOptions rf = random_feature_options().read(c);
  EXPECT_EQ(rf.width, 512);
  EXPECT_EQ(rf.init_std, 0.01);
  // Their limits.
  EXPECT_THROW(c.set("model.kind", "unet"), ConfigError);
  EXPECT_THROW(c.set("model.mlp.hidden", "0"), ConfigError);
  EXPECT_THROW(c.set("model.mlp.output_scale", "0"), ConfigError);
  EXPECT_THROW(c.set("model.mlp.output_scaling", "sqrt"), ConfigError);
  EXPECT_THROW(c.set("model.random_features.init_std", "-1"), ConfigError);
}

TEST(ReferenceMlpOptions, OutputConstant) {
  ReferenceMlpOptions o;
  o.output_scale = 0.0625;
  for (Index H : {4, 16, 64, 100}) {
    o.hidden = H;
    o.scaling = OutputScaling::Fixed;
    EXPECT_EQ(o.output_constant(), 0.0625) << H;
    o.scaling = OutputScaling::Width;
    EXPECT_DOUBLE_EQ(o.output_constant(), 0.0625 * std::sqrt(16.0 / static_cast<double>(H))) << H;
  }
  o.scaling = OutputScaling::Width;
  o.hidden = 16;
  EXPECT_EQ(o.output_constant(), 0.0625);  // equal to fixed at H = 16
  o.hidden = 64;
  EXPECT_EQ(o.output_constant(), 0.03125);
  o.hidden = 4;
  EXPECT_EQ(o.output_constant(), 0.125);
}

TEST(ReferenceMlpOptions, WidthScalingScalesTheScore) {
  // Same stream, so the same weights: at H = 64 the width scaling halves c and
  // so the score, exactly (a factor of 2).
  ModelOptions fixed;
  fixed.mlp.hidden = 64;
  ModelOptions width = fixed;
  width.mlp.scaling = OutputScaling::Width;
  Rng a(3), b(3);
  const auto m_fixed = make_score_model(fixed, 2, ve(), a);
  const auto m_width = make_score_model(width, 2, ve(), b);
  ASSERT_EQ(m_fixed->parameters(), m_width->parameters());
  Matrix X(3, 2);
  X << 0.5, -1.0, 2.0, 0.25, -3.0, 1.5;
  const Matrix s_fixed = m_fixed->score(X, 0.3), s_width = m_width->score(X, 0.3);
  EXPECT_EQ(s_width, 0.5 * s_fixed);
  EXPECT_GT(s_fixed.norm(), 0.0);
}

}  // namespace
}  // namespace diffgen
