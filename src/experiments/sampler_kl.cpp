// sampler-kl's settings and plan (experiments/sampler_kl.hpp). Tasks: per
// (seed, dimension, grid kind) the path-KL evaluator and per seed the
// trained network are intermediates; per (seed, dimension, grid kind, rule,
// estimator) one path task covers every step count at once (the grids are
// nested), and in d = 1 one density task per cell gives the KL of the final
// marginals with an interval that holds it (two propagations).
#include "experiments/sampler_kl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bounds/final_kl_estimate.hpp"
#include "core/error.hpp"
#include "sampling/score_denoiser.hpp"
#include "targets/denoiser.hpp"
#include "training/trainer.hpp"

namespace diffgen {
namespace {

using S = SamplerKlSettings;

// ½N(-μu, var I) + ½N(μu, var I) with u = (1, ..., 1)/√d: the mode distance is 2μ in every d.
std::shared_ptr<const GaussianMixture> two_mode_target(Index d, double mu, double var) {
  Vector w(2);
  w << 0.5, 0.5;
  Matrix m(2, d);
  m.setConstant(mu / std::sqrt(static_cast<double>(d)));
  m.row(0) *= -1.0;
  return std::make_shared<GaussianMixture>(w, m, Matrix::Constant(2, d, var));
}

// The sorted union of the grids' points: the evaluator's grid, on which all of them lie.
Vector union_grid(const std::vector<Vector>& grids) {
  std::vector<double> all;
  for (const auto& g : grids) all.insert(all.end(), g.data(), g.data() + g.size());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return Eigen::Map<const Vector>(all.data(), static_cast<Index>(all.size()));
}

// The trained estimator's network (d = 1), trained once per seed; a run whose
// training diverges keeps the message, so that only the trained estimator's
// rows fail and every other estimator's are written.
struct TrainedNetwork {
  std::shared_ptr<const ScoreModel> model;
  std::string failure;
};

std::shared_ptr<const ScoreModel> train_network(const S& s, Index k) {
  const auto kk = static_cast<std::uint64_t>(k);
  Rng data_rng = Rng::stream(s.seed, {kStreamData, kk}), init_rng = Rng::stream(s.seed, {kStreamInit, kk});
  Rng train_rng = Rng::stream(s.seed, {kStreamTrain, kk});
  const auto sde = make_sde(s.sde);
  const auto target = two_mode_target(1, s.target_mu, s.target_var);
  std::shared_ptr<TrainableScoreModel> model = make_score_model(s.model, 1, sde, init_rng);
  Trainer trainer(*model, sde, target->sample(s.trained_n, data_rng), target, s.train.trainer, train_rng);
  for (Index e = 0; e < s.train.epochs; ++e) trainer.run_epoch();
  return model;
}

// What a path task computes: Δ_n and the bounds at every step count of its grid kind.
struct PathValue {
  std::vector<PathKl> paths;
  std::string failure;
};
// What a density task computes: the final-marginal KL of one cell, an
// interval that holds it, and whether it is exact.
struct DensityValue {
  double kl = SamplerRow::kNaN, lower = SamplerRow::kNaN, upper = SamplerRow::kNaN;
  bool exact = false;
  Index points = 0;
  std::string failure;
};

class SamplerKlStudy final : public Study {
 public:
  SamplerKlStudy(S settings, Index seeds);
  const std::vector<TaskInfo>& tasks() const override { return tasks_; }
  TaskValue run_task(Index task, const TaskContext& context) const override;
  Json encode(Index task, const TaskValue& value) const override;
  TaskValue decode(Index task, const Json& json) const override;
  void report(const std::vector<TaskValue>& values, RunWriter& out) const override {
    write_sampler_kl_report(s_, seeds_, rows_of(values), out);
  }
  SeedTable seed_table(const std::vector<TaskValue>& values, Index k) const override;

 private:
  enum class Kind { Network, Evaluator, Path, Density };
  struct Task {
    Kind kind;
    Index seed = 0, dimension = 1;
    GridKind grid = GridKind::Uniform;
    StepRule rule = StepRule::MeanOnly;
    EstimatorKind estimator = EstimatorKind::Exact;
    Index steps = 0;  // density tasks
    Index evaluator = -1, network = -1;
  };
  std::vector<Vector> grids_of(GridKind g) const;
  std::shared_ptr<const ConditionalMeanEstimator> estimator(const Task& t, const TaskContext& context) const;
  void plan_cell(Index k, Index d, GridKind g, Index evaluator, Index network);
  std::vector<SamplerRow> rows_of(const std::vector<TaskValue>& values) const;

  S s_;
  Index seeds_;
  std::vector<Task> plan_;
  std::vector<TaskInfo> tasks_;
};

SamplerKlStudy::SamplerKlStudy(S settings, Index seeds) : s_(std::move(settings)), seeds_(seeds) {
  std::vector<GridKind> kinds = s_.grids;
  if (!s_.user_grid.empty()) kinds.push_back(GridKind::User);
  const bool trained = std::count(s_.estimators.begin(), s_.estimators.end(), EstimatorKind::Trained) > 0 &&
                       std::count(s_.dimensions.begin(), s_.dimensions.end(), Index(1)) > 0;
  for (Index k = 0; k < seeds_; ++k) {
    Index network = -1;
    if (trained) {
      network = static_cast<Index>(plan_.size());
      plan_.push_back({Kind::Network, k});
      tasks_.push_back({fmt::format("network-seed-{}", k), 1e12, 1, {}, false, "trained network"});
    }
    for (Index d : s_.dimensions)
      for (GridKind g : kinds) {
        const Index evaluator = static_cast<Index>(plan_.size());
        plan_.push_back({Kind::Evaluator, k, d, g});
        tasks_.push_back({fmt::format("evaluator-seed-{}-d{}-{}", k, d, enum_name(g)), 1e12, 1, {}, false,
                          fmt::format("evaluator d={}", d)});
        plan_cell(k, d, g, evaluator, network);
      }
  }
}

// Every rule and estimator on one (seed, dimension, grid kind): one path task
// for all step counts, and in d = 1 one density task per step count.
void SamplerKlStudy::plan_cell(Index k, Index d, GridKind g, Index evaluator, Index network) {
  const double n_max = static_cast<double>(s_.steps.back());
  for (StepRule rule : s_.rules)
    for (EstimatorKind e : s_.estimators) {
      if (!estimator_runs(s_, e, d, g)) continue;
      const bool trained = e == EstimatorKind::Trained;
      std::vector<Index> needs{evaluator};
      if (trained) needs.push_back(network);
      const std::string cell = fmt::format("seed-{}-d{}-{}-{}-{}", k, d, enum_name(g), step_rule_name(rule), enum_name(e));
      const std::string kind_label =
          fmt::format("d={} {} {} {}", d, enum_name(g), step_rule_name(rule), enum_name(e));
      const double path_cost =
          d == 1 ? 1e3
                 : static_cast<double>(s_.mc_samples) * n_max * (rule == StepRule::CovarianceMatched ? 1.0 : 0.1);
      plan_.push_back({Kind::Path, k, d, g, rule, e, 0, evaluator, network});
      tasks_.push_back({"path-" + cell, path_cost, 1, needs, true, "path " + kind_label});
      if (d != 1) continue;
      for (const auto& grid : grids_of(g)) {
        const Index n = grid.size() - 1;
        const double nn = static_cast<double>(n);
        // Two propagations: the value's and the check's, coarser by 4/3 (about 2.4 of one).
        const double cost = 2.4 * (g == GridKind::Uniform ? nn * std::sqrt(nn * s_.t_max) : 20.0 * nn * std::sqrt(nn)) *
                            (rule == StepRule::CovarianceMatched ? 1.3 : 1.0) * (trained ? 3.0 : 1.0);
        plan_.push_back({Kind::Density, k, d, g, rule, e, n, -1, network});
        tasks_.push_back({fmt::format("density-{}-n{}", cell, n), cost, 1,
                          trained ? std::vector<Index>{network} : std::vector<Index>{}, true,
                          "density " + kind_label});
      }
    }
}

std::vector<Vector> SamplerKlStudy::grids_of(GridKind g) const {
  if (g == GridKind::User) return {sampler_grid(s_, g, 0)};
  std::vector<Vector> list;
  for (Index n : s_.steps) list.push_back(sampler_grid(s_, g, n));
  return list;
}

std::shared_ptr<const ConditionalMeanEstimator> SamplerKlStudy::estimator(const Task& t,
                                                                          const TaskContext& context) const {
  const auto target = two_mode_target(t.dimension, s_.target_mu, s_.target_var);
  auto exact = std::make_shared<MixtureDenoiser>(target);
  if (t.estimator == EstimatorKind::Exact) return exact;
  if (t.estimator == EstimatorKind::Perturbed) return std::make_shared<PerturbedEstimator>(exact, s_.perturbation);
  const auto& network = context.input<TrainedNetwork>(t.network);
  if (!network.failure.empty()) throw NumericalError(network.failure);
  return std::make_shared<ScoreModelDenoiser>(network.model, make_sde(s_.sde), s_.sde.eps, "trained");
}

TaskValue SamplerKlStudy::run_task(Index i, const TaskContext& context) const {
  const Task& t = plan_[static_cast<std::size_t>(i)];
  if (t.kind == Kind::Network) {
    TrainedNetwork n;
    try {
      n.model = train_network(s_, t.seed);
    } catch (const NumericalError& e) {
      n.failure = fmt::format("the trained estimator's network (seed {}): {}", t.seed, e.what());
    }
    return make_value(std::move(n));
  }
  if (t.kind == Kind::Evaluator) {
    // d > 1: the Monte Carlo draws come from streams of (seed, k, d, grid kind).
    const std::size_t g = static_cast<std::size_t>(
        std::find(s_.grids.begin(), s_.grids.end(), t.grid) - s_.grids.begin());  // the user grid comes last
    PathKlOptions po;
    po.mmse.samples = s_.mc_samples;
    po.mmse.quadrature_points = s_.quadrature_points;
    po.mmse.seed = Rng::stream(s_.seed, {kStreamEval, static_cast<std::uint64_t>(t.seed),
                                         static_cast<std::uint64_t>(t.dimension), static_cast<std::uint64_t>(g)})
                       .next_u64();
    return make_value(std::make_shared<const PathKlEvaluator>(
        two_mode_target(t.dimension, s_.target_mu, s_.target_var), union_grid(grids_of(t.grid)), po));
  }
  if (t.kind == Kind::Path) {
    PathValue v;
    try {
      const auto f = estimator(t, context);
      v.paths = context.input<std::shared_ptr<const PathKlEvaluator>>(t.evaluator)->evaluate(*f, t.rule, grids_of(t.grid));
    } catch (const NumericalError& e) {
      v.failure = e.what();
    }
    return make_value(std::move(v));
  }
  DensityValue v;
  try {
    const auto f = estimator(t, context);
    FinalKlEstimateOptions options;
    options.density.spacing = s_.density_spacing;
    options.density.final_spacing = std::min(options.density.final_spacing, s_.density_spacing);
    const auto target = two_mode_target(1, s_.target_mu, s_.target_var);
    const FinalKlEstimate e = estimate_final_kl(*f, t.rule, sampler_grid(s_, t.grid, t.steps), *target, options);
    v.kl = e.kl, v.lower = e.lower, v.upper = e.upper, v.exact = e.exact, v.points = e.points;
  } catch (const NumericalError& e) {
    v.failure = e.what();
  }
  return make_value(std::move(v));
}

Json estimate_json(const Estimate& e) {
  return Json::array({e.value, e.standard_error});
}
Estimate estimate_from(const Json& j) {
  return {j.at(0).get<double>(), j.at(1).get<double>()};
}

Json SamplerKlStudy::encode(Index i, const TaskValue& value) const {
  if (plan_[static_cast<std::size_t>(i)].kind == Kind::Density) {
    const auto& v = value_as<DensityValue>(value);
    return {{"kl", v.kl},       {"lower", v.lower},   {"upper", v.upper},
            {"exact", v.exact}, {"points", v.points}, {"failure", v.failure}};
  }
  const auto& v = value_as<PathValue>(value);
  Json paths = Json::array();
  for (const auto& p : v.paths)
    paths.push_back({{"steps", p.steps},
                     {"t_max", p.t_max},
                     {"delta_max", p.delta_max},
                     {"delta_n", estimate_json(p.delta_n)},
                     {"discretization", estimate_json(p.discretization)},
                     {"estimation", estimate_json(p.estimation)},
                     {"bound", estimate_json(p.bound)},
                     {"bound_grid", estimate_json(p.bound_grid)},
                     {"mutual_information", estimate_json(p.mutual_information)}});
  return {{"paths", paths}, {"failure", v.failure}};
}

TaskValue SamplerKlStudy::decode(Index i, const Json& j) const {
  if (plan_[static_cast<std::size_t>(i)].kind == Kind::Density)
    return make_value(DensityValue{j.at("kl").get<double>(), j.at("lower").get<double>(), j.at("upper").get<double>(),
                                   j.at("exact").get<bool>(), j.at("points").get<Index>(),
                                   j.at("failure").get<std::string>()});
  PathValue v;
  v.failure = j.at("failure").get<std::string>();
  for (const auto& p : j.at("paths")) {
    PathKl path;
    path.steps = p.at("steps").get<Index>();
    path.t_max = p.at("t_max").get<double>();
    path.delta_max = p.at("delta_max").get<double>();
    path.delta_n = estimate_from(p.at("delta_n"));
    path.discretization = estimate_from(p.at("discretization"));
    path.estimation = estimate_from(p.at("estimation"));
    path.bound = estimate_from(p.at("bound"));
    path.bound_grid = estimate_from(p.at("bound_grid"));
    path.mutual_information = estimate_from(p.at("mutual_information"));
    v.paths.push_back(std::move(path));
  }
  return make_value(std::move(v));
}

// The rows in plan order: each path task's step counts, with the density
// tasks' final KLs on their rows.
std::vector<SamplerRow> SamplerKlStudy::rows_of(const std::vector<TaskValue>& values) const {
  std::vector<SamplerRow> rows;
  std::size_t cell_start = 0;
  for (std::size_t i = 0; i < plan_.size(); ++i) {
    const Task& t = plan_[i];
    if (t.kind == Kind::Path) {
      const auto& v = value_as<PathValue>(values[i]);
      cell_start = rows.size();
      for (const auto& grid : grids_of(t.grid)) {
        SamplerRow r;
        r.seed = t.seed, r.dimension = t.dimension, r.rule = t.rule, r.grid = t.grid, r.estimator = t.estimator;
        r.steps = grid.size() - 1;
        r.failure = v.failure;
        if (v.failure.empty()) {
          r.path = v.paths[rows.size() - cell_start];
          r.has_path = true;
        }
        rows.push_back(std::move(r));
      }
    } else if (t.kind == Kind::Density) {
      const auto& v = value_as<DensityValue>(values[i]);
      for (std::size_t j = cell_start; j < rows.size(); ++j)
        if (rows[j].steps == t.steps) {
          rows[j].kl_final = v.kl, rows[j].kl_lower = v.lower, rows[j].kl_upper = v.upper;
          rows[j].kl_within_tolerance = v.exact, rows[j].density_points = v.points;
          if (!v.failure.empty()) rows[j].failure = v.failure;
        }
    }
  }
  add_sampler_reductions(s_, rows);
  return rows;
}

SeedTable SamplerKlStudy::seed_table(const std::vector<TaskValue>& values, Index k) const {
  SeedTable table;
  table.keys = {"dimension", "rule", "grid", "estimator", "steps"};
  table.metrics = {"kl_final", "delta_n", "delta_n_se", "bound", "bound_grid", "estimation"};
  std::vector<SamplerRow> rows;
  for (auto& r : rows_of(values))
    if (r.seed == k) rows.push_back(std::move(r));
  for (const auto& r : rows) {
    table.key_values.push_back({std::to_string(r.dimension), std::string(step_rule_name(r.rule)),
                                std::string(enum_name(r.grid)), std::string(enum_name(r.estimator)),
                                std::to_string(r.steps)});
    const double nan = SamplerRow::kNaN;
    table.values.push_back({r.kl_exact() ? r.kl_final : nan, r.has_path ? r.delta_reported().value : nan,
                            r.has_path ? r.delta_reported().standard_error : nan, r.has_path ? r.path.bound.value : nan,
                            r.has_path ? r.path.bound_grid.value : nan, r.has_path ? r.path.estimation.value : nan});
    if (table.failure.empty()) table.failure = r.failure;
  }
  table.scalars = sampler_kl_slopes(s_, rows);
  return table;
}

class SamplerKlExperiment final : public Experiment {
 public:
  std::string name() const override { return "sampler-kl"; }
  std::string purpose() const override {
    return "Reeves & Pfister 2025: exact KL of discrete-time samplers against the number of steps (mean-only vs "
           "covariance-matched)";
  }
  Schema keys() const override {
    Schema s;
    sampler_kl_options().declare(s, SamplerKlSettings(), {"train.switch.epoch", "train.switch.optimizer",
                                                          "train.switch.lr"});
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    SamplerKlSettings s = sampler_kl_options().read(config, SamplerKlSettings());
    check_sampler_kl_settings(s);
    return std::make_unique<SamplerKlStudy>(std::move(s), seeds);
  }
};

}  // namespace

SamplerKlSettings::SamplerKlSettings() {
  train.trainer.optimizer.lr = 0.5;
  train.trainer.batch_size = 32;
  train.epochs = 200;  // the foundation's KL (b) is lowest near 100-200
}

Vector sampler_grid(const SamplerKlSettings& s, GridKind kind, Index n) {
  if (kind == GridKind::Uniform) return discrete_time_uniform_grid(s.t_max, n);
  if (kind == GridKind::Geometric) return discrete_time_geometric_grid(s.t_max, s.t_min, n);
  return Eigen::Map<const Vector>(s.user_grid.data(), static_cast<Index>(s.user_grid.size()));
}

bool estimator_runs(const SamplerKlSettings& s, EstimatorKind e, Index d, GridKind g) {
  if (e != EstimatorKind::Trained) return true;
  return d == 1 && std::count(s.trained_grids.begin(), s.trained_grids.end(), g) > 0;
}

std::unique_ptr<Experiment> make_sampler_kl_experiment() {
  return std::make_unique<SamplerKlExperiment>();
}

}  // namespace diffgen
