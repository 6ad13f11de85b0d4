// Cost of one KL evaluation by definition (a) (score integrated at t0 = 0.065,
// 2401-node grid) and (b) (PF-ODE density at ε = 1e-5, 241-node grid, the experiment's), on the
// two-mode target of Li2023 under the VE SDE. The headline experiment calls
// (a) 201 times and (b) 21 times within a budget of < 2 s on 2 cores, so the
// guide is (a) <~ 1 ms and (b) <~ 25 ms for a 16-hidden-unit network.
#include <benchmark/benchmark.h>

#include <memory>

#include "core/rng.hpp"
#include "metrics/kl.hpp"
#include "models/oracles.hpp"
#include "models/reference_mlp.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {
namespace {

struct Setup {
  std::shared_ptr<const Sde> sde = std::make_shared<VeSde>(25.0);
  std::shared_ptr<const GaussianMixture> target =
      std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(3.0));
  std::unique_ptr<TargetScore> population = make_population_oracle(target, sde);
  std::unique_ptr<TargetScore> empirical;
  std::unique_ptr<ReferenceMlp> mlp;
  Setup() {
    Rng rng = Rng::stream(2023, {kStreamData});
    empirical = make_empirical_oracle(target->sample(1000, rng), sde);
    // Freshly initialized: the trained network's cost per evaluation is the same.
    Rng init = Rng::stream(2023, {kStreamInit});
    mlp = std::make_unique<ReferenceMlp>(1, ReferenceMlpOptions{}, sde, init);
  }
  // 0: population oracle, 1: the reference network (H = 16), 2: empirical oracle (n = 1000).
  const ScoreModel& model(int64_t which) const {
    if (which == 0) return *population;
    if (which == 1) return *mlp;
    return *empirical;
  }
};

const Setup& setup() {
  static const Setup s;
  return s;
}

const char* kModelNames[] = {"population", "mlp16", "empirical1000"};

void BM_KlScoreIntegrated(benchmark::State& state) {
  const Setup& s = setup();
  const ScoreModel& model = s.model(state.range(0));
  KlOptions o;
  o.method = state.range(1) == 0 ? KlMethod::Fine : KlMethod::PaperGrid;
  KlSummary k;
  for (auto _ : state) {
    // No DoNotOptimize: the call cannot be elided (it allocates and may run
    // threads), and Google Benchmark 1.7.1's GCC "+m,r" asm constraint
    // corrupts a double member of k (measured here: k.kl read back as garbage).
    k = kl_score_integrated(model, *s.target, *s.sde, o);
  }
  state.SetLabel(std::string(kModelNames[state.range(0)]) + " " + std::string(enum_name(o.method)));
  state.counters["kl"] = k.kl;
  state.counters["evaluations"] = static_cast<double>(k.evaluations);
}
BENCHMARK(BM_KlScoreIntegrated)->ArgsProduct({{0, 1, 2}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_KlPfOde(benchmark::State& state) {
  const Setup& s = setup();
  const ScoreModel& model = s.model(state.range(0));
  KlPfOdeOptions o;
  o.prior = KlPrior::Exact;
  KlSummary k;
  for (auto _ : state) {
    k = kl_pf_ode(model, *s.target, *s.sde, o);
  }
  state.SetLabel(kModelNames[state.range(0)]);
  state.counters["kl"] = k.kl;
  state.counters["evaluations"] = static_cast<double>(k.evaluations);
  state.counters["steps"] = static_cast<double>(k.ode_steps);
}
// The empirical oracle at ε = 1e-5 is left out: its 1000 narrow bumps make the
// ODE stiff and each evaluation costs 1000 exponentials (about 10 s).
BENCHMARK(BM_KlPfOde)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace diffgen

BENCHMARK_MAIN();
