// Training speed of Chen2025's toy network (THEORY.md §7, notes/chen2025-code.md
// A.2, A.4, A.5): DeepMlp 3 × 128 swish, input (x ∈ R², raw t), output
// g(t)·score, on m = 200 Swiss-roll points, full batch, Adam lr 1e-3, VP SDE
// (β_min 0.1, β_max 20, T = 1), through the Trainer. Goal (a): a 10 000-step
// training at least 10× faster than PyTorch on the same machine. Also the
// other per-(T, seed) costs of the T-sweep: the exact divergence on 1000
// points (PF-ODE likelihood) and a 1000-step Euler–Maruyama sampling of 1000
// points with this network.
//
// The PyTorch figures (bench/pytorch_chen_mlp.py: the authors' loop, 1 000
// timed steps after 50 warm-up steps scaled to 10 000, median of 3
// repetitions; torch 1.13.0a0 from Debian's python3-torch, on this 2-core
// AMD EPYC machine while other builds shared it, load average 2–4):
//   float32, 1 thread:   74.2 s per 10 000 steps (7.42 ms/step)
//   float32, 2 threads: 125.2 s (runs 223, 125, 77 s: two threads on a shared
//                        2-core machine are slower than one)
//   float64, 1 thread:  100.6 s
//   float64, 2 threads: 272.6 s
// kPyTorchSeconds below is the float32 figure at the same thread count (the
// authors' setting); the counter `vs_torch` is PyTorch's time over ours, and
// `vs_torch_best` is PyTorch's best figure (float32, 1 thread) over ours.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>

#include "core/parallel.hpp"
#include "models/deep_mlp.hpp"
#include "sampling/samplers.hpp"
#include "sampling/time_grid.hpp"
#include "targets/swiss_roll.hpp"
#include "training/trainer.hpp"

namespace diffgen {
namespace {

// Seconds per 10 000 steps, float32, by thread count (index 1 and 2).
constexpr double kPyTorchSeconds[3] = {0.0, 74.2, 125.2};
constexpr double kPyTorchBestSeconds = 74.2;

struct Setting {
  std::shared_ptr<const Sde> sde = std::make_shared<VpSde>(0.1, 20.0, 1.0);
  Matrix data;
  Setting() {
    Rng rng = Rng::stream(0, {kStreamData});
    data = SwissRoll().sample(200, rng);
  }
  DeepMlp network() const {
    Rng init = Rng::stream(0, {kStreamInit});
    return DeepMlp(2, DeepMlpOptions{}, sde, init);
  }
};

TrainerOptions chen_options() {
  TrainerOptions o;
  o.optimizer.kind = OptimizerKind::Adam;
  o.optimizer.lr = 1e-3;
  o.batch_size = 0;  // full batch
  return o;
}

// Steps of the timed training (DIFFGEN_BENCH_DEEP_STEPS, default 2 000, the
// PyTorch script's count), scaled to 10 000 in the counters.
int training_steps() {
  const char* s = std::getenv("DIFFGEN_BENCH_DEEP_STEPS");
  return s ? std::atoi(s) : 2000;
}

// One full-batch Adam step: (t, z) draws, forward, backward, Adam, checks.
void BM_DeepMlpStep(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(0)));
  const Setting s;
  DeepMlp net = s.network();
  Trainer trainer(net, s.sde, s.data, nullptr, chen_options(), Rng::stream(0, {kStreamTrain}));
  for (auto _ : state) benchmark::DoNotOptimize(trainer.run_epoch());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DeepMlpStep)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// A whole training from a fresh network, timed once per iteration; the
// counters give it per 10 000 steps and as PyTorch's time over ours.
void BM_DeepMlpTraining(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  set_num_threads(threads);
  const Setting s;
  const int steps = training_steps();
  double seconds = 0.0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    DeepMlp net = s.network();
    Trainer trainer(net, s.sde, s.data, nullptr, chen_options(), Rng::stream(0, {kStreamTrain}));
    for (int k = 0; k < steps; ++k) benchmark::DoNotOptimize(trainer.run_epoch());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double per_10k = seconds / static_cast<double>(state.iterations()) * 10000.0 / steps;
  state.counters["s_per_10k_steps"] = per_10k;
  state.counters["vs_torch"] = kPyTorchSeconds[threads] / per_10k;
  state.counters["vs_torch_best"] = kPyTorchBestSeconds / per_10k;
  state.SetItemsProcessed(state.iterations() * steps);
}
BENCHMARK(BM_DeepMlpTraining)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->Iterations(1);

// The exact divergence on 1000 points (one PF-ODE likelihood stage).
void BM_DeepMlpDivergence1000(benchmark::State& state) {
  set_num_threads(1);
  const Setting s;
  const DeepMlp net = s.network();
  Rng rng(1);
  Matrix x(1000, 2);
  rng.fill_normal(x);
  const Vector t = Vector::Constant(1000, 0.5);
  Vector div;
  for (auto _ : state) {
    net.divergence(x, t, div);
    benchmark::DoNotOptimize(div.data());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_DeepMlpDivergence1000)->Unit(benchmark::kMillisecond);

// One 1000-step Euler–Maruyama sampling of 1000 points from N(0, I).
void BM_DeepMlpEulerMaruyama1000x1000(benchmark::State& state) {
  set_num_threads(1);
  const Setting s;
  const DeepMlp net = s.network();
  const Vector grid = uniform_time_grid(1.0, 1e-3, 1000);
  for (auto _ : state) {
    Rng rng(2);
    Matrix x_T(1000, 2);
    rng.fill_normal(x_T);
    benchmark::DoNotOptimize(sample_euler_maruyama(net, *s.sde, std::move(x_T), grid, rng).data());
  }
}
BENCHMARK(BM_DeepMlpEulerMaruyama1000x1000)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
}  // namespace diffgen

BENCHMARK_MAIN();
