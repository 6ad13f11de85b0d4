// Cost of the pieces of `diffgen run sampler-kl` (Reeves & Pfister 2025):
// one discrete-time sampler step on a batch (mean-only and
// covariance-matched, exact conditional mean, d = 1 and 8), the exact 1-D
// output density and final KL of a whole sampler (geometric grid to
// t_n = 100), and the path KL of all step counts on a prepared evaluator.
#include <benchmark/benchmark.h>

#include <memory>

#include "bounds/output_density.hpp"
#include "bounds/path_kl.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "sampling/discrete_time.hpp"

namespace diffgen {
namespace {

std::shared_ptr<const GaussianMixture> two_mode(Index d) {
  Vector w(2);
  w << 0.5, 0.5;
  Matrix m(2, d);
  m.setConstant(3.0 / std::sqrt(static_cast<double>(d)));
  m.row(0) *= -1.0;
  return std::make_shared<GaussianMixture>(w, m, Matrix::Ones(2, d));
}

// One step from t = 1 to 1.1 on 10k points; args: dimension, rule (0 mean-only, 1 covariance-matched).
void BM_DiscreteTimeStep(benchmark::State& state) {
  set_num_threads(1);
  const Index d = state.range(0);
  const StepRule rule = state.range(1) ? StepRule::CovarianceMatched : StepRule::MeanOnly;
  const MixtureDenoiser f(two_mode(d));
  Rng rng = Rng::stream(5, {kStreamEval});
  Matrix y(10000, d);
  rng.fill_normal(y);
  Vector grid(2);
  grid << 1.0, 1.1;
  const auto sampler = discrete_time_sampler(rule);
  for (auto _ : state) benchmark::DoNotOptimize(sampler(f, y, grid, rng, {}));
  state.SetItemsProcessed(state.iterations() * y.rows());
}
BENCHMARK(BM_DiscreteTimeStep)->Args({1, 0})->Args({1, 1})->Args({8, 0})->Args({8, 1})->Unit(benchmark::kMillisecond);

// The exact density of the output and the final-marginal KL in d = 1; args: steps, rule.
void BM_ExactFinalKl1d(benchmark::State& state) {
  const auto target = two_mode(1);
  const MixtureDenoiser f(target);
  const Vector grid = discrete_time_geometric_grid(100.0, 1e-3, state.range(0));
  const StepRule rule = state.range(1) ? StepRule::CovarianceMatched : StepRule::MeanOnly;
  for (auto _ : state) benchmark::DoNotOptimize(final_kl(*target, output_density(f, rule, grid, target.get())).kl);
}
BENCHMARK(BM_ExactFinalKl1d)
    ->Args({64, 0})
    ->Args({64, 1})
    ->Args({1024, 0})
    ->Args({1024, 1})
    ->Unit(benchmark::kMillisecond);

// Δ_n for the eight step counts 8..1024 on a prepared evaluator; args: dimension, rule.
void BM_PathKlAllStepCounts(benchmark::State& state) {
  set_num_threads(1);
  const Index d = state.range(0);
  const StepRule rule = state.range(1) ? StepRule::CovarianceMatched : StepRule::MeanOnly;
  const auto target = two_mode(d);
  const MixtureDenoiser f(target);
  std::vector<Vector> grids;
  for (Index n = 8; n <= 1024; n *= 2) grids.push_back(discrete_time_geometric_grid(100.0, 1e-3, n));
  static std::map<Index, std::unique_ptr<PathKlEvaluator>> evaluators;
  if (!evaluators.count(d)) evaluators[d] = std::make_unique<PathKlEvaluator>(target, grids.back());
  for (auto _ : state) benchmark::DoNotOptimize(evaluators[d]->evaluate(f, rule, grids));
}
BENCHMARK(BM_PathKlAllStepCounts)
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({8, 0})
    ->Args({8, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace diffgen

BENCHMARK_MAIN();
