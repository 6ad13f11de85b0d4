// One point of the Chen2025 toy studies (experiments/chen_study.hpp): train,
// bound, measure. The keys live in chen_study_settings.cpp.
// Tested by chen_study_test.cpp.
#include "experiments/chen_study.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "metrics/model_density.hpp"
#include "metrics/sample_distances.hpp"
#include "sampling/samplers.hpp"
#include "targets/swiss_roll.hpp"
#include "numerics/tabulated_curve.hpp"
#include "training/bound_trainer.hpp"
#include "training/trainer.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Matrix sample_target(const ChenSettings& s, ChenTarget target, Index n, Rng& rng) {
  if (target == ChenTarget::SwissRoll) return SwissRoll().sample(n, rng);
  return swiss_roll_mixture(s.mixture_components).sample(n, rng);
}

struct TrainTest {
  Matrix train, test;
};

// A seed's m training points and its test points. Samplers draw both fresh
// (the test set the same for every m); a data file is shuffled once per seed,
// its first m rows train and its last rows, after the largest m, test.
TrainTest training_and_test(const ChenSettings& s, ChenTarget target, Index m, Rng& data_rng, Rng& test_rng) {
  if (target != ChenTarget::File) return {sample_target(s, target, m, data_rng), sample_target(s, target, s.test_points, test_rng)};
  const Matrix& points = *s.file_points;
  std::vector<Index> order(static_cast<std::size_t>(points.rows()));
  std::iota(order.begin(), order.end(), Index{0});
  for (Index i = points.rows() - 1; i > 0; --i)
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(test_rng.below(static_cast<std::uint64_t>(i + 1)))]);
  const Index held_out = std::min(s.test_points, points.rows() - s.m_values.back());
  TrainTest split{Matrix(m, points.cols()), Matrix(held_out, points.cols())};
  for (Index r = 0; r < m; ++r) split.train.row(r) = points.row(order[static_cast<std::size_t>(r)]);
  for (Index r = 0; r < held_out; ++r)
    split.test.row(r) = points.row(order[static_cast<std::size_t>(points.rows() - held_out + r)]);
  return split;
}

// Full-batch Adam on the denoising loss; returns the last step's loss
// (diffgen's, without the authors' ½).
double train(const ChenSettings& s, DeepMlp& net, std::shared_ptr<const Sde> sde, const Matrix& data, Rng rng,
             const TaskContext& context) {
  TrainerOptions o;
  o.optimizer.kind = OptimizerKind::Adam;
  o.optimizer.lr = s.lr;
  o.batch_size = 0;
  o.eps = s.t_min;
  Trainer trainer(net, std::move(sde), data, nullptr, o, rng);
  constexpr Index kChunk = 100;
  double loss = kNaN;
  for (Index step = 1; step <= s.steps; ++step) {
    loss = trainer.run_epoch();
    if (step % kChunk == 0 || step == s.steps) {
      context.progress(step % kChunk == 0 ? kChunk : step % kChunk);
      throw_if_interrupted("training the deep MLP");
    }
  }
  return loss;
}

// D(T) = term1 + √2R·term2, the bound's data-only part, tabulated over the
// joint arm's range of T with common random numbers (the same draws at every
// T), so that its slope in T is smooth.
TabulatedCurve data_terms_curve(const ChenSettings& s, const VpSde& sde, const Matrix& data, Rng& rng) {
  const auto variance = [&](EncoderVariance e, double T) {
    return e == EncoderVariance::Variance ? sde.s2(T) : std::sqrt(sde.s2(T));
  };
  MixtureTermOptions mixture;
  mixture.draws = s.regularized.curve_draws;
  mixture.exact_entropy = s.term1_entropy == EntropyRule::Exact;
  const Rng common = rng;
  const auto D = [&](double T) {
    Rng draws = common;
    const double a = sde.a(T);
    return mixture_term(data, a, variance(s.term1_variance, T), mixture, draws).value +
           std::numbers::sqrt2 * s.R * encoder_term(data, a, variance(s.term2_variance, T), s.term2);
  };
  const auto& range = s.regularized.T_range;
  return TabulatedCurve(D, range[0], range[1], s.regularized.curve_nodes);
}

// Full-batch Adam on the bound's objective (training/bound_trainer.hpp) for
// one arm; returns the last step's denoising loss (diffgen's, without ½) and
// records the learned T's path.
double train_on_bound(const ChenSettings& s, ChenArm arm, DeepMlp& net, std::shared_ptr<const VpSde> sde,
                      const Matrix& data, double T, Rng rng, Rng& eval_rng, const TaskContext& context, ChenPoint& p) {
  BoundTrainerOptions o;
  o.lr = s.lr;
  o.t_min = s.t_min;
  o.penalty = arm == ChenArm::Plain ? 0.0 : s.regularized.lambda;
  o.learn_T = arm == ChenArm::Joint;
  o.T_lr = s.regularized.T_lr;
  o.T_lo = s.regularized.T_range[0], o.T_hi = s.regularized.T_range[1];
  std::function<double(double)> slope;
  if (o.learn_T) {
    auto curve = std::make_shared<const TabulatedCurve>(data_terms_curve(s, *sde, data, eval_rng));
    slope = [curve](double x) { return curve->slope(x); };
  }
  BoundTrainer trainer(net, sde, data, T, slope, o, rng);
  constexpr Index kChunk = 100;
  double loss = kNaN;
  for (Index step = 1; step <= s.steps; ++step) {
    if (o.learn_T && (step - 1) % ChenPoint::kPathEvery == 0) p.T_path.push_back(trainer.T());
    loss = 2.0 * trainer.step().sm_loss;
    if (step % kChunk == 0 || step == s.steps) {
      context.progress(step % kChunk == 0 ? kChunk : step % kChunk);
      throw_if_interrupted("training the deep MLP on the bound");
    }
  }
  p.T_final = trainer.T();
  if (o.learn_T) p.T_path.push_back(p.T_final);
  return loss;
}

void bound_terms(const ChenSettings& s, const DeepMlp& net, const VpSde& sde, double T, const Matrix& data,
                 double last_loss, Rng& rng, ChenPoint& p) {
  const double a = sde.a(T), v = sde.s2(T);
  const auto variance = [&](EncoderVariance e) { return e == EncoderVariance::Variance ? v : std::sqrt(v); };
  MixtureTermOptions mixture;
  mixture.draws = s.term1_draws;
  mixture.exact_entropy = s.term1_entropy == EntropyRule::Exact;
  const Estimate term1 = mixture_term(data, a, variance(s.term1_variance), mixture, rng);
  p.term1 = term1.value, p.term1_se = term1.standard_error;
  p.term2 = encoder_term(data, a, variance(s.term2_variance), s.term2);
  p.beta_integral = beta_integral(sde, T, s.beta_integral);
  p.L = score_norm_bound(net, sde, T, data, s.L, rng);
  p.term3 = generator_term(p.L, p.beta_integral, data.rows());
  const Estimate sm = s.sm_loss == SmLossRule::Fresh
                          ? fresh_denoising_loss(net, sde, s.t_min, T, data, s.sm_loss_draws, rng)
                          : Estimate{0.5 * last_loss, 0.0};
  p.sm_loss = sm.value, p.sm_loss_se = sm.standard_error;
  BoundTerms b{term1, p.term2, p.term3, sm, s.R};
  p.bound = b.bound().value, p.bound_se = b.bound().standard_error;
  // The training set's own prior mismatch KL((1/m) Σ_j E_T(x_j) ‖ N(0, I)) =
  // term1 + mean KL_i with the consistent encoder (THEORY.md §7's identity).
  if (s.term1_variance == EncoderVariance::Variance && s.term1_entropy == EntropyRule::Exact) {
    p.prior_mismatch = term1.value + encoder_kls(data, a, v).mean(), p.prior_mismatch_se = term1.standard_error;
  } else {
    MixtureTermOptions exact;
    exact.draws = s.term1_draws;
    const Estimate t1 = mixture_term(data, a, v, exact, rng);
    p.prior_mismatch = t1.value + encoder_kls(data, a, v).mean(), p.prior_mismatch_se = t1.standard_error;
  }
}

void test_errors(const ChenSettings& s, ChenTarget target, const DeepMlp& net, std::shared_ptr<const VpSde> sde,
                 double T, const Matrix& test, Rng& rng, ChenPoint& p) {
  // The authors' generator: Euler–Maruyama from N(0, I) whatever T, on the
  // uniform grid from T down to 0 (the last score is taken at T/steps).
  Matrix start(s.test_points, test.cols());
  rng.fill_normal(start);
  const Vector grid = Vector::LinSpaced(s.sampler_steps + 1, T, 0.0);
  const Matrix generated = sample_euler_maruyama(net, *sde, start, grid, rng);
  p.kde_kl = kde_kl(test, generated, s.kde_bandwidth);
  // A perfect generator's KDE-KL: fresh target samples in place of generated ones.
  p.kde_kl_floor = target == ChenTarget::File
                       ? kNaN
                       : kde_kl(test, sample_target(s, target, s.test_points, rng), s.kde_bandwidth);
  p.energy = energy_distance(test, generated);
  p.exact_kl = p.exact_kl_se = p.nll = p.nll_se = kNaN;
  if (target != ChenTarget::SwissRollMixture || !s.exact_density) return;
  const GaussianMixture mixture = swiss_roll_mixture(s.mixture_components);
  PfOdeOptions ode;
  ode.eps = s.ode_eps;
  ode.rtol = ode.atol = s.ode_tolerance;
  const ModelDensityErrors errors = model_density_errors(net, *sde, mixture, test, ode);
  p.exact_kl = errors.kl.value, p.exact_kl_se = errors.kl.standard_error;
  p.nll = errors.nll.value, p.nll_se = errors.nll.standard_error;
  const Estimate prior = prior_mismatch(mixture, *sde, T, s.prior_mismatch_draws, rng);
  p.prior_mismatch = prior.value, p.prior_mismatch_se = prior.standard_error;
}

void mark_failed(ChenPoint& p, std::string why) {
  for (const auto& c : chen_columns()) p.*(c.field) = kNaN;
  p.failure = std::move(why);
}

}  // namespace

const std::vector<ChenColumn>& chen_columns() {
  static const std::vector<ChenColumn> columns{
      {"term1", &ChenPoint::term1},
      {"term1_se", &ChenPoint::term1_se},
      {"term2", &ChenPoint::term2},
      {"beta_integral", &ChenPoint::beta_integral},
      {"L", &ChenPoint::L},
      {"term3", &ChenPoint::term3},
      {"sm_loss", &ChenPoint::sm_loss},
      {"sm_loss_se", &ChenPoint::sm_loss_se},
      {"bound", &ChenPoint::bound},
      {"bound_se", &ChenPoint::bound_se},
      {"final_train_loss", &ChenPoint::final_train_loss},
      {"kde_kl", &ChenPoint::kde_kl},
      {"kde_kl_floor", &ChenPoint::kde_kl_floor},
      {"energy_distance", &ChenPoint::energy},
      {"exact_kl", &ChenPoint::exact_kl},
      {"exact_kl_se", &ChenPoint::exact_kl_se},
      {"test_nll", &ChenPoint::nll},
      {"test_nll_se", &ChenPoint::nll_se},
      {"prior_mismatch", &ChenPoint::prior_mismatch},
      {"prior_mismatch_se", &ChenPoint::prior_mismatch_se},
      {"T_final", &ChenPoint::T_final}};
  return columns;
}

Json chen_point_to_json(const ChenPoint& p) {
  Json j = Json::object();
  for (const auto& c : chen_columns()) {
    const double v = p.*(c.field);
    j[c.name] = std::isfinite(v) ? Json(v) : Json(nullptr);
  }
  if (!p.T_path.empty()) j["T_path"] = p.T_path;
  j["failure"] = p.failure;
  return j;
}

ChenPoint chen_point_from_json(const Json& j) {
  ChenPoint p;
  for (const auto& c : chen_columns()) {
    const Json& v = j.at(c.name);
    p.*(c.field) = v.is_null() ? kNaN : v.get<double>();
  }
  if (j.contains("T_path")) p.T_path = j.at("T_path").get<std::vector<double>>();
  p.failure = j.at("failure").get<std::string>();
  return p;
}

ChenPoint run_chen_point(const ChenSettings& s, ChenTarget target, double T, Index m, Index seed,
                         const TaskContext& context, std::optional<ChenArm> arm) {
  // A learned T may end anywhere in its range: the training SDE reaches its
  // top (a(t), s(t) and β(t) of the VP SDE do not depend on the horizon).
  const bool joint = arm == ChenArm::Joint;
  const auto sde = std::make_shared<const VpSde>(s.beta_min, s.beta_max, joint ? s.regularized.T_range[1] : T);
  const auto t_id = static_cast<std::uint64_t>(target);
  const auto k = static_cast<std::uint64_t>(seed), mm = static_cast<std::uint64_t>(m);
  // Every T of a seed shares the training set, the initialization and the
  // training draws (common random numbers: differences across T are T's).
  Rng data_rng = Rng::stream(s.seed, {kStreamData, k, t_id, mm});
  Rng test_rng = Rng::stream(s.seed, {kStreamData, k, t_id, 0});
  Rng init_rng = Rng::stream(s.seed, {kStreamInit, k, t_id, mm});
  Rng eval_rng = Rng::stream(s.seed, {kStreamEval, k, t_id, mm, std::bit_cast<std::uint64_t>(T)});
  const auto [data, test] = training_and_test(s, target, m, data_rng, test_rng);
  DeepMlp net(data.cols(), s.model, sde, init_rng);
  ChenPoint p;
  p.T_final = T;
  try {
    const Rng train_rng = Rng::stream(s.seed, {kStreamTrain, k, t_id, mm});
    const double last_loss = arm ? train_on_bound(s, *arm, net, sde, data, T, train_rng, eval_rng, context, p)
                                 : train(s, net, sde, data, train_rng, context);
    p.final_train_loss = 0.5 * last_loss;
    // Measured at the horizon trained for, with the SDE ending there.
    const auto at_T = joint ? std::make_shared<const VpSde>(s.beta_min, s.beta_max, p.T_final) : sde;
    bound_terms(s, net, *at_T, p.T_final, data, last_loss, eval_rng, p);
    test_errors(s, target, net, at_T, p.T_final, test, eval_rng, p);
  } catch (const NumericalError& e) {
    mark_failed(p, fmt::format("{} at T = {}, m = {}, seed {}: {}", enum_name(target), T, m, seed, e.what()));
  }
  context.progress(1);
  return p;
}

}  // namespace diffgen
