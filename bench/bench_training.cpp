// Training speed of the reference setting (THEORY.md §3–§4): the reference
// network (d = 1, H = 16) on ½N(−3, 1) + ½N(3, 1) under VE σ = 25, SGD,
// batch 32. The target: 64,000 steps (2,000 epochs of n = 1000) in well
// under 0.5 s on one core.
#include <benchmark/benchmark.h>

#include <memory>

#include "models/random_features.hpp"
#include "models/reference_mlp.hpp"
#include "targets/gaussian_mixture.hpp"
#include "training/trainer.hpp"

namespace diffgen {
namespace {

struct Setting {
  std::shared_ptr<const Sde> sde = std::make_shared<VeSde>(25.0);
  Matrix data;
  explicit Setting(Index n) {
    Rng rng = Rng::stream(0, {kStreamData});
    data = GaussianMixture::symmetric_two_mode(3.0).sample(n, rng);
  }
};

TrainerOptions reference_options() {
  TrainerOptions o;
  o.optimizer.kind = OptimizerKind::Sgd;
  o.optimizer.lr = 0.5;
  o.batch_size = 32;
  return o;
}

// One optimizer step: n = 32 makes an epoch exactly one full batch (shuffle,
// gather, (t, z) draws, forward, backward, SGD update, finiteness checks).
void BM_ReferenceStep(benchmark::State& state) {
  Setting s(32);
  Rng init = Rng::stream(0, {kStreamInit});
  ReferenceMlp net(1, {}, s.sde, init);
  Trainer trainer(net, s.sde, s.data, nullptr, reference_options(), Rng::stream(0, {kStreamTrain}));
  for (auto _ : state) benchmark::DoNotOptimize(trainer.run_epoch());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReferenceStep);

// One epoch on n = 1000: 32 steps, the last of 8 points.
void BM_ReferenceEpoch(benchmark::State& state) {
  Setting s(1000);
  Rng init = Rng::stream(0, {kStreamInit});
  ReferenceMlp net(1, {}, s.sde, init);
  Trainer trainer(net, s.sde, s.data, nullptr, reference_options(), Rng::stream(0, {kStreamTrain}));
  for (auto _ : state) benchmark::DoNotOptimize(trainer.run_epoch());
  state.SetItemsProcessed(state.iterations() * trainer.steps_per_epoch());
}
BENCHMARK(BM_ReferenceEpoch);

// The speed target itself: 2,000 epochs = 64,000 steps from a fresh network.
void BM_Reference64kSteps(benchmark::State& state) {
  Setting s(1000);
  for (auto _ : state) {
    Rng init = Rng::stream(0, {kStreamInit});
    ReferenceMlp net(1, {}, s.sde, init);
    Trainer trainer(net, s.sde, s.data, nullptr, reference_options(), Rng::stream(0, {kStreamTrain}));
    for (int e = 0; e < 2000; ++e) benchmark::DoNotOptimize(trainer.run_epoch());
  }
  state.SetItemsProcessed(state.iterations() * 64000);
}
BENCHMARK(BM_Reference64kSteps)->Unit(benchmark::kMillisecond)->Iterations(5);

// One epoch of the random-feature model (m = 256) on the same data, for scale.
void BM_RandomFeatureEpoch(benchmark::State& state) {
  Setting s(1000);
  Rng init = Rng::stream(0, {kStreamInit});
  RandomFeatureModel rf(1, {}, init);
  Trainer trainer(rf, s.sde, s.data, nullptr, reference_options(), Rng::stream(0, {kStreamTrain}));
  for (auto _ : state) benchmark::DoNotOptimize(trainer.run_epoch());
  state.SetItemsProcessed(state.iterations() * trainer.steps_per_epoch());
}
BENCHMARK(BM_RandomFeatureEpoch);

}  // namespace
}  // namespace diffgen

BENCHMARK_MAIN();
