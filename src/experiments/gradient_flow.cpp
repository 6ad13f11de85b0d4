// gradient-flow's plan (experiments/gradient_flow.hpp). Per seed the losses
// and the flows built from them are intermediates; kept are each flow's
// curve along τ, the memorized training set's KL, and, once, the smoothing
// floor, the loss's infimum and seed 0's densities at three times.
#include "experiments/gradient_flow.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"
#include "core/json_eigen.hpp"
#include "models/oracles.hpp"

namespace diffgen {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

enum class Kind { EmpiricalLoss, PopulationLoss, PopulationDraws, EmpiricalFlow, PopulationFlow, EmpiricalCurve,
                  PopulationCurve, Memorized, Floor, Infimum, Densities };

struct Task {
  Kind kind;
  Index seed = 0;
};

// A flow's curve, or why it failed.
struct CurveValue {
  FlowCurve curve;
  double lambda_max = FlowSeed::kNaN, lambda_min = FlowSeed::kNaN;
  Index rank = 0;
  std::string failure;
};

class GradientFlowStudy final : public Study {
 public:
  GradientFlowStudy(FlowStudySettings settings, Index seeds);
  const std::vector<TaskInfo>& tasks() const override { return tasks_; }
  TaskValue run_task(Index task, const TaskContext& context) const override;
  Json encode(Index task, const TaskValue& value) const override;
  TaskValue decode(Index task, const Json& json) const override;
  void report(const std::vector<TaskValue>& values, RunWriter& out) const override {
    write_gradient_flow_report(s_, results_of(values), out);
  }
  SeedTable seed_table(const std::vector<TaskValue>& values, Index k) const override;

 private:
  Index add(Kind kind, Index seed, std::string key, double cost, std::vector<Index> needs, bool keep) {
    plan_.push_back({kind, seed});
    tasks_.push_back({std::move(key), cost, 1, std::move(needs), keep, "gradient flow"});
    return static_cast<Index>(plan_.size()) - 1;
  }
  CurveValue curve(const Task& t, const TaskContext& context) const;
  std::vector<FlowSnapshot> densities(const TaskContext& context) const;
  GradientFlowResults results_of(const std::vector<TaskValue>& values) const;

  FlowStudySettings s_;
  Index seeds_;
  std::vector<Task> plan_;
  std::vector<TaskInfo> tasks_;
  // Per seed: the tasks of its losses, flows and curves.
  struct SeedTasks {
    Index emp_loss = -1, pop_loss = -1, pop_draws = -1, emp_flow = -1, pop_flow = -1, emp_curve = -1, pop_curve = -1,
          memorized = -1;
  };
  std::vector<SeedTasks> per_seed_;
  Index floor_ = -1, infimum_ = -1, densities_ = -1;
};

GradientFlowStudy::GradientFlowStudy(FlowStudySettings settings, Index seeds) : s_(std::move(settings)), seeds_(seeds) {
  const double m = static_cast<double>(s_.features.width), n = static_cast<double>(s_.n);
  const bool draws = s_.expectation == Expectation::Draws;
  for (Index k = 0; k < seeds_; ++k) {
    SeedTasks t;
    const auto key = [&](const char* what) { return fmt::format("{}-seed-{}", what, k); };
    // Costs: the losses first (n or the t nodes × m² each), then the curves.
    t.emp_loss = add(Kind::EmpiricalLoss, k, key("empirical-loss"), 1e6 + n * m * m, {}, false);
    t.pop_loss = add(Kind::PopulationLoss, k, key("population-loss"), 1e6 + 1e3 * m * m, {}, false);
    if (draws) t.pop_draws = add(Kind::PopulationDraws, k, key("population-draws"), 1e6 + 1e3 * m * m, {}, false);
    t.emp_flow = add(Kind::EmpiricalFlow, k, key("empirical-flow"), m * m * m, {t.emp_loss}, false);
    t.pop_flow = add(Kind::PopulationFlow, k, key("population-flow"), m * m * m, {draws ? t.pop_draws : t.pop_loss},
                     false);
    t.emp_curve = add(Kind::EmpiricalCurve, k, key("empirical"), 1e3, {t.emp_flow, t.emp_loss, t.pop_loss}, true);
    std::vector<Index> pop_needs{t.pop_flow, t.pop_loss};
    if (draws) pop_needs.push_back(t.pop_draws);
    t.pop_curve = add(Kind::PopulationCurve, k, key("population"), 1e3, pop_needs, true);
    t.memorized = add(Kind::Memorized, k, key("memorized"), 10, {}, true);
    per_seed_.push_back(t);
  }
  floor_ = add(Kind::Floor, 0, "smoothing-floor", 10, {}, true);
  infimum_ = add(Kind::Infimum, 0, "dsm-infimum", 10, {}, true);
  if (seeds_ > 0) {
    const SeedTasks& t = per_seed_[0];
    densities_ = add(Kind::Densities, 0, "densities-seed-0", 10, {t.emp_flow, t.pop_flow, t.emp_curve}, true);
  }
}

CurveValue GradientFlowStudy::curve(const Task& t, const TaskContext& context) const {
  const SeedTasks& st = per_seed_[static_cast<std::size_t>(t.seed)];
  const bool empirical = t.kind == Kind::EmpiricalCurve;
  const auto& flow = *context.input<std::shared_ptr<const ExactGradientFlow>>(empirical ? st.emp_flow : st.pop_flow);
  const auto& train = context.input<QuadraticDsmLoss>(
      empirical ? st.emp_loss : (st.pop_draws >= 0 ? st.pop_draws : st.pop_loss));
  const auto& pop = context.input<QuadraticDsmLoss>(st.pop_loss);
  const auto sde = make_sde(s_.sde);
  const auto target = s_.target();
  RandomFeatureModel model = flow_model(s_, t.seed, s_.features.width);
  CurveValue v;
  try {
    v.curve = evaluate_flow(flow, train, &pop, model, target, *sde, {s_.kl, s_.tau, s_.refine_steps},
                            [&](Index units) { context.progress(units); });
  } catch (const NumericalError& e) {
    v.failure = fmt::format("{} flow: {}", empirical ? "empirical" : "population", e.what());
  }
  if (empirical) {
    const Vector& lambda = flow.eigenvalues();
    v.rank = flow.rank();
    v.lambda_max = lambda.maxCoeff();
    for (Index j = 0; j < lambda.size(); ++j)
      if (lambda[j] > 0.0 && !(lambda[j] >= v.lambda_min)) v.lambda_min = lambda[j];
  }
  return v;
}

// Learned densities of seed 0 at three times: well before the early-stopping
// point, at it, and at the limit (the two minimizers).
std::vector<FlowSnapshot> GradientFlowStudy::densities(const TaskContext& context) const {
  const SeedTasks& st = per_seed_[0];
  const auto& empirical = context.input<CurveValue>(st.emp_curve);
  if (!empirical.failure.empty()) return {};
  const auto sde = make_sde(s_.sde);
  const auto target = s_.target();
  const double tau_star = std::isfinite(empirical.curve.best.tau) ? empirical.curve.best.tau : s_.tau.back();
  const std::vector<std::pair<std::string, double>> times = {
      {"early (τ*/1000)", tau_star / 1000.0}, {"early stopping (τ*)", tau_star}, {"limit (τ = ∞)", kInf}};
  RandomFeatureModel model = flow_model(s_, 0, s_.features.width);
  std::vector<FlowSnapshot> snapshots;
  for (const auto& [label, tau] : times) {
    FlowSnapshot snap{label, tau, {}, {}, {}, {}};
    for (const Index which : {st.emp_flow, st.pop_flow}) {
      const auto& flow = *context.input<std::shared_ptr<const ExactGradientFlow>>(which);
      model.coefficients() = std::isinf(tau) ? flow.minimizer() : flow.at(tau);
      const KlSummary k = kl_score_integrated(model, target, *sde, s_.kl);
      snap.x = k.x;
      snap.log_p = k.log_p;
      (which == st.emp_flow ? snap.log_q_emp : snap.log_q_pop) = k.log_q;
    }
    snapshots.push_back(std::move(snap));
  }
  return snapshots;
}

TaskValue GradientFlowStudy::run_task(Index i, const TaskContext& context) const {
  const Task& t = plan_[static_cast<std::size_t>(i)];
  const SeedTasks* st = t.kind == Kind::Floor || t.kind == Kind::Infimum ? nullptr : &per_seed_[static_cast<std::size_t>(t.seed)];
  const auto sde = make_sde(s_.sde);
  const auto target = std::make_shared<GaussianMixture>(s_.target());
  switch (t.kind) {
    case Kind::EmpiricalLoss: {
      const RandomFeatureModel model = flow_model(s_, t.seed, s_.features.width);
      return make_value(empirical_loss(s_, model, *sde, flow_data(s_, t.seed, s_.n), t.seed));
    }
    case Kind::PopulationLoss:
      return make_value(expected_dsm_loss(flow_model(s_, t.seed, s_.features.width), *sde,
                                          CleanLaw::from_mixture(*target), s_.expected()));
    case Kind::PopulationDraws:
      return make_value(population_loss(s_, flow_model(s_, t.seed, s_.features.width), *sde, t.seed));
    case Kind::EmpiricalFlow:
    case Kind::PopulationFlow: {
      const Index loss = t.kind == Kind::EmpiricalFlow ? st->emp_loss : (st->pop_draws >= 0 ? st->pop_draws : st->pop_loss);
      const RandomFeatureModel model = flow_model(s_, t.seed, s_.features.width);
      return make_value(std::make_shared<const ExactGradientFlow>(context.input<QuadraticDsmLoss>(loss),
                                                                  Matrix(model.coefficients())));
    }
    case Kind::EmpiricalCurve:
    case Kind::PopulationCurve:
      return make_value(curve(t, context));
    case Kind::Memorized: {
      Matrix points(s_.n, 1);
      points.col(0) = flow_data(s_, t.seed, s_.n);
      double kl = FlowSeed::kNaN;  // the floor is a reference line only
      try {
        kl = kl_score_integrated(*make_empirical_oracle(points, sde), *target, *sde, s_.kl).kl;
      } catch (const NumericalError&) {
      }
      return make_value(kl);
    }
    case Kind::Floor:
      return make_value(kl_score_integrated(*make_population_oracle(target, sde), *target, *sde, s_.kl).kl);
    case Kind::Infimum:
      return make_value(dsm_loss_infimum(*target, *sde, s_.expected()));
    case Kind::Densities:
      return make_value(densities(context));
  }
  throw std::logic_error("gradient-flow: unknown task");
}

Json GradientFlowStudy::encode(Index i, const TaskValue& value) const {
  switch (plan_[static_cast<std::size_t>(i)].kind) {
    case Kind::EmpiricalCurve:
    case Kind::PopulationCurve: {
      const auto& v = value_as<CurveValue>(value);
      return {{"curve", flow_curve_to_json(v.curve)}, {"lambda_max", v.lambda_max}, {"lambda_min", v.lambda_min},
              {"rank", v.rank}, {"failure", v.failure}};
    }
    case Kind::Densities: {
      Json list = Json::array();
      for (const auto& s : value_as<std::vector<FlowSnapshot>>(value))
        list.push_back({{"label", s.label}, {"tau", s.tau}, {"x", s.x}, {"log_p", s.log_p},
                        {"log_q_emp", s.log_q_emp}, {"log_q_pop", s.log_q_pop}});
      return list;
    }
    default:
      return value_as<double>(value);
  }
}

TaskValue GradientFlowStudy::decode(Index i, const Json& j) const {
  switch (plan_[static_cast<std::size_t>(i)].kind) {
    case Kind::EmpiricalCurve:
    case Kind::PopulationCurve:
      return make_value(CurveValue{flow_curve_from_json(j.at("curve")), j.at("lambda_max").get<double>(),
                                   j.at("lambda_min").get<double>(), j.at("rank").get<Index>(),
                                   j.at("failure").get<std::string>()});
    case Kind::Densities: {
      std::vector<FlowSnapshot> list;
      for (const auto& s : j)
        list.push_back({s.at("label").get<std::string>(), s.at("tau").get<double>(), s.at("x").get<Vector>(),
                        s.at("log_p").get<Vector>(), s.at("log_q_emp").get<Vector>(), s.at("log_q_pop").get<Vector>()});
      return make_value(std::move(list));
    }
    default:
      return make_value(j.get<double>());
  }
}

GradientFlowResults GradientFlowStudy::results_of(const std::vector<TaskValue>& values) const {
  GradientFlowResults r;
  for (const SeedTasks& t : per_seed_) {
    FlowSeed seed;
    const auto& e = value_as<CurveValue>(values[static_cast<std::size_t>(t.emp_curve)]);
    const auto& p = value_as<CurveValue>(values[static_cast<std::size_t>(t.pop_curve)]);
    seed.empirical = e.curve, seed.population = p.curve;
    seed.empirical_done = e.failure.empty(), seed.population_done = p.failure.empty();
    seed.lambda_max = e.lambda_max, seed.lambda_min = e.lambda_min, seed.rank = e.rank;
    if (!e.failure.empty()) seed.failure = e.failure;
    if (!p.failure.empty() && !seed.failure) seed.failure = p.failure;
    seed.empirical_oracle_kl = value_as<double>(values[static_cast<std::size_t>(t.memorized)]);
    r.seeds.push_back(std::move(seed));
  }
  r.smoothing_floor = value_as<double>(values[static_cast<std::size_t>(floor_)]);
  r.infimum = value_as<double>(values[static_cast<std::size_t>(infimum_)]);
  if (densities_ >= 0) r.snapshots = value_as<std::vector<FlowSnapshot>>(values[static_cast<std::size_t>(densities_)]);
  return r;
}

SeedTable GradientFlowStudy::seed_table(const std::vector<TaskValue>& values, Index k) const {
  const GradientFlowResults r = results_of(values);
  const FlowSeed& seed = r.seeds[static_cast<std::size_t>(k)];
  SeedTable table;
  table.keys = {"loss", "tau"};
  table.metrics = {"kl_a", "score_error"};
  for (const bool empirical : {true, false}) {
    if (!(empirical ? seed.empirical_done : seed.population_done)) continue;
    for (const auto& p : (empirical ? seed.empirical : seed.population).grid) {
      table.key_values.push_back({empirical ? "empirical" : "population", format_double(p.tau)});
      table.values.push_back({p.kl_a, p.test_loss - r.infimum});
    }
  }
  table.scalars = {{"best_kl_empirical", seed.empirical.best.kl_a},
                   {"limit_kl_empirical", seed.empirical.limit.kl_a},
                   {"best_kl_population", seed.population.best.kl_a},
                   {"memorized_kl", seed.empirical_oracle_kl}};
  if (seed.failure) table.failure = *seed.failure;
  return table;
}

class GradientFlowExperiment final : public Experiment {
 public:
  std::string name() const override { return "gradient-flow"; }
  std::string purpose() const override {
    return "Li et al. 2023 Thm. 1: random features trained by their exact gradient flow on the empirical and the "
           "population loss";
  }
  Schema keys() const override {
    Schema s;
    flow_study_options().declare(s, FlowStudySettings(), {"n_values", "m_values"});
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    return std::make_unique<GradientFlowStudy>(flow_study_settings(config, FlowStudySettings()), seeds);
  }
};

}  // namespace

std::unique_ptr<Experiment> make_gradient_flow_experiment() {
  return std::make_unique<GradientFlowExperiment>();
}

}  // namespace diffgen
