// rates' plan (experiments/rates.hpp). Per seed the losses are
// intermediates — the population loss at the widest width (every other width
// is its leading block) and the empirical loss of every n — and each flow
// along τ is a kept task; the loss's infimum and the smoothing floor are
// computed once.
#include "experiments/rates.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "models/oracles.hpp"

namespace diffgen {
namespace {

enum class Kind { Population, ExactPopulation, Empirical, NCurve, MCurve, Infimum, Floor };

struct Task {
  Kind kind;
  Index seed = 0;
  Index index = -1;  // n or m index; NCurve/MCurve with index = m_values.size(): the reference width m_n
};

struct CurveValue {
  FlowCurve curve;
  std::string failure;
};

class RatesStudy final : public Study {
 public:
  RatesStudy(FlowStudySettings settings, Index seeds);
  const std::vector<TaskInfo>& tasks() const override { return tasks_; }
  TaskValue run_task(Index task, const TaskContext& context) const override;
  Json encode(Index task, const TaskValue& value) const override;
  TaskValue decode(Index task, const Json& json) const override;
  void report(const std::vector<TaskValue>& values, RunWriter& out) const override {
    write_rates_report(s_, results_of(values), out);
  }
  SeedTable seed_table(const std::vector<TaskValue>& values, Index k) const override;

 private:
  Index add(Task task, std::string key, double cost, std::vector<Index> needs, bool keep) {
    plan_.push_back(task);
    tasks_.push_back({std::move(key), cost, 1, std::move(needs), keep, keep ? "flow curves" : "losses"});
    return static_cast<Index>(plan_.size()) - 1;
  }
  Index m_max() const { return std::max(s_.m_values.back(), s_.features.width); }
  bool reference_in_m() const {
    return std::binary_search(s_.m_values.begin(), s_.m_values.end(), s_.features.width);
  }
  CurveValue curve(const Task& t, const TaskContext& context) const;
  RatesResults results_of(const std::vector<TaskValue>& values) const;

  FlowStudySettings s_;
  Index seeds_;
  std::vector<Task> plan_;
  std::vector<TaskInfo> tasks_;
  std::vector<Index> population_, exact_population_;  // per seed
  std::vector<std::vector<Index>> n_curves_, m_curves_;  // per seed; m_curves_ has the reference last when needed
  Index infimum_ = -1, floor_ = -1;
};

RatesStudy::RatesStudy(FlowStudySettings settings, Index seeds) : s_(std::move(settings)), seeds_(seeds) {
  const Index NN = static_cast<Index>(s_.n_values.size()), NM = static_cast<Index>(s_.m_values.size());
  const bool draws = s_.expectation == Expectation::Draws;
  const double mn = static_cast<double>(s_.features.width);
  for (Index k = 0; k < seeds_; ++k) {
    // The losses first, the costly empirical losses of large n before the rest.
    const Index pop = add({Kind::Population, k}, fmt::format("population-loss-seed-{}", k), 1e12, {}, false);
    const Index exact = draws ? add({Kind::ExactPopulation, k}, fmt::format("exact-population-loss-seed-{}", k), 1e12,
                                    {}, false)
                              : pop;
    population_.push_back(pop);
    exact_population_.push_back(exact);
    n_curves_.emplace_back();
    for (Index i = 0; i < NN; ++i) {
      const double n = static_cast<double>(s_.n_values[static_cast<std::size_t>(i)]);
      const Index emp = add({Kind::Empirical, k, i}, fmt::format("empirical-loss-seed-{}-n{}", k, s_.n_values[i]),
                            1e12 + n, {}, false);
      n_curves_.back().push_back(add({Kind::NCurve, k, i}, fmt::format("n-curve-seed-{}-n{}", k, s_.n_values[i]),
                                     mn * mn * mn, {emp, exact}, true));
    }
    m_curves_.emplace_back();
    for (Index j = 0; j <= NM; ++j) {
      if (j == NM && reference_in_m()) break;
      const Index m = j < NM ? s_.m_values[static_cast<std::size_t>(j)] : s_.features.width;
      const double mm = static_cast<double>(m);
      m_curves_.back().push_back(add({Kind::MCurve, k, j}, fmt::format("m-curve-seed-{}-m{}", k, m), mm * mm * mm,
                                     {pop, exact}, true));
    }
  }
  infimum_ = add({Kind::Infimum}, "dsm-infimum", 10, {}, true);
  floor_ = add({Kind::Floor}, "smoothing-floor", 10, {}, true);
}

// Every flow is measured on the exact population loss of its own width.
CurveValue RatesStudy::curve(const Task& t, const TaskContext& context) const {
  const auto sde = make_sde(s_.sde);
  const auto target = s_.target();
  const auto& exact = context.input<QuadraticDsmLoss>(exact_population_[static_cast<std::size_t>(t.seed)]);
  const Index NM = static_cast<Index>(s_.m_values.size());
  const Index m = t.kind == Kind::NCurve || t.index == NM ? s_.features.width : s_.m_values[static_cast<std::size_t>(t.index)];
  RandomFeatureModel model = flow_model(s_, t.seed, m);
  const QuadraticDsmLoss reference = leading_features(exact, m);
  const QuadraticDsmLoss train =
      t.kind == Kind::NCurve
          ? context.input<QuadraticDsmLoss>(context.info().needs[0])
          : leading_features(context.input<QuadraticDsmLoss>(population_[static_cast<std::size_t>(t.seed)]), m);
  CurveValue v;
  try {
    const ExactGradientFlow flow(train, Matrix(model.coefficients()));
    v.curve = evaluate_flow(flow, train, &reference, model, target, *sde, {s_.kl, s_.tau, s_.refine_steps});
  } catch (const NumericalError& e) {
    v.failure = fmt::format("seed {}: {}", t.seed, e.what());
  }
  return v;
}

TaskValue RatesStudy::run_task(Index i, const TaskContext& context) const {
  const Task& t = plan_[static_cast<std::size_t>(i)];
  const auto sde = make_sde(s_.sde);
  const auto target = std::make_shared<GaussianMixture>(s_.target());
  switch (t.kind) {
    case Kind::Population: {
      const RandomFeatureModel model = flow_model(s_, t.seed, m_max());
      return make_value(s_.expectation == Expectation::Exact
                            ? expected_dsm_loss(model, *sde, CleanLaw::from_mixture(*target), s_.expected())
                            : population_loss(s_, model, *sde, t.seed));
    }
    case Kind::ExactPopulation:
      return make_value(
          expected_dsm_loss(flow_model(s_, t.seed, m_max()), *sde, CleanLaw::from_mixture(*target), s_.expected()));
    case Kind::Empirical: {
      // Nested training sets: the first n points of the largest draw.
      const Vector data = flow_data(s_, t.seed, s_.n_values.back());
      const RandomFeatureModel model = flow_model(s_, t.seed, s_.features.width);
      return make_value(empirical_loss(s_, model, *sde, data.head(s_.n_values[static_cast<std::size_t>(t.index)]), t.seed));
    }
    case Kind::NCurve:
    case Kind::MCurve:
      return make_value(curve(t, context));
    case Kind::Infimum:
      return make_value(dsm_loss_infimum(*target, *sde, s_.expected()));
    case Kind::Floor:
      return make_value(kl_score_integrated(*make_population_oracle(target, sde), *target, *sde, s_.kl).kl);
  }
  throw std::logic_error("rates: unknown task");
}

Json RatesStudy::encode(Index i, const TaskValue& value) const {
  const Kind kind = plan_[static_cast<std::size_t>(i)].kind;
  if (kind == Kind::Infimum || kind == Kind::Floor) return value_as<double>(value);
  const auto& v = value_as<CurveValue>(value);
  return {{"curve", flow_curve_to_json(v.curve)}, {"failure", v.failure}};
}

TaskValue RatesStudy::decode(Index i, const Json& j) const {
  const Kind kind = plan_[static_cast<std::size_t>(i)].kind;
  if (kind == Kind::Infimum || kind == Kind::Floor) return make_value(j.get<double>());
  return make_value(CurveValue{flow_curve_from_json(j.at("curve")), j.at("failure").get<std::string>()});
}

RatesResults RatesStudy::results_of(const std::vector<TaskValue>& values) const {
  RatesResults r;
  const std::size_t NM = s_.m_values.size();
  const auto ref_m = static_cast<std::size_t>(
      std::lower_bound(s_.m_values.begin(), s_.m_values.end(), s_.features.width) - s_.m_values.begin());
  for (Index k = 0; k < seeds_; ++k) {
    RatesSeed seed;
    const auto take = [&](Index task, FlowCurve& curve, char& done) {
      const auto& v = value_as<CurveValue>(values[static_cast<std::size_t>(task)]);
      if (v.failure.empty()) {
        curve = v.curve;
        done = 1;
      } else if (!seed.failure) {
        seed.failure = v.failure;
      }
    };
    const auto& nc = n_curves_[static_cast<std::size_t>(k)];
    const auto& mc = m_curves_[static_cast<std::size_t>(k)];
    seed.n_curves.resize(nc.size()), seed.n_done.assign(nc.size(), 0);
    seed.m_curves.resize(NM), seed.m_done.assign(NM, 0);
    for (std::size_t i = 0; i < nc.size(); ++i) take(nc[i], seed.n_curves[i], seed.n_done[i]);
    for (std::size_t j = 0; j < NM; ++j) take(mc[j], seed.m_curves[j], seed.m_done[j]);
    char ref_done = 0;
    take(reference_in_m() ? mc[ref_m] : mc[NM], seed.reference, ref_done);
    seed.reference_done = ref_done != 0;
    r.seeds.push_back(std::move(seed));
  }
  r.infimum = value_as<double>(values[static_cast<std::size_t>(infimum_)]);
  r.smoothing_floor = value_as<double>(values[static_cast<std::size_t>(floor_)]);
  return r;
}

SeedTable RatesStudy::seed_table(const std::vector<TaskValue>& values, Index k) const {
  const RatesResults r = results_of(values);
  const RatesSeed& seed = r.seeds[static_cast<std::size_t>(k)];
  SeedTable table;
  table.keys = {"sweep", "size"};
  table.metrics = {"best_kl", "limit_kl", "best_score_error"};
  for (std::size_t i = 0; i < s_.n_values.size(); ++i)
    if (seed.n_done[i]) {
      table.key_values.push_back({"n", std::to_string(s_.n_values[i])});
      const auto& c = seed.n_curves[i];
      table.values.push_back({c.best.kl_a, c.limit.kl_a, c.best_test.test_loss - r.infimum});
    }
  for (std::size_t j = 0; j < s_.m_values.size(); ++j)
    if (seed.m_done[j]) {
      table.key_values.push_back({"m", std::to_string(s_.m_values[j])});
      const auto& c = seed.m_curves[j];
      table.values.push_back({c.best.kl_a, c.limit.kl_a, c.best_test.test_loss - r.infimum});
    }
  if (seed.failure) table.failure = *seed.failure;
  return table;
}

class RatesExperiment final : public Experiment {
 public:
  std::string name() const override { return "rates"; }
  std::string purpose() const override {
    return "Li et al. 2023 Thm. 1: rates of the best KL against n and m, and the stopping time against n (exact "
           "gradient flow)";
  }
  Schema keys() const override {
    Schema s;
    flow_study_options().declare(s, defaults(), {"data.n"});
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    return std::make_unique<RatesStudy>(flow_study_settings(config, defaults()), seeds);
  }

 private:
  // 5 τ points per decade: the best over training is refined by golden section anyway.
  static FlowStudySettings defaults() {
    FlowStudySettings s;
    s.tau_per_decade = 5;
    s.n_values = {100, 215, 464, 1000, 2154, 4642, 10000};
    s.m_values = {16, 32, 64, 128, 256, 512};
    return s;
  }
};

}  // namespace

std::unique_ptr<Experiment> make_rates_experiment() {
  return std::make_unique<RatesExperiment>();
}

}  // namespace diffgen
