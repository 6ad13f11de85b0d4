// Seeded random streams. Every random draw in diffgen comes from an Rng made
// by Rng::stream(seed, id...), so a run is bit-identical across repeats,
// thread counts and machines: the generator (xoshiro256**) and the
// normal/uniform transforms are implemented here, not taken from the
// standard library, whose distributions differ between implementations.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/types.hpp"

namespace diffgen {

class Rng {
 public:
  // A generator seeded by SplitMix64 from `seed`.
  explicit Rng(std::uint64_t seed = 0);

  // An independent stream identified by (seed, ids...): for example
  // Rng::stream(base_seed, kStreamInit, k) for seed k's initialization.
  static Rng stream(std::uint64_t seed, std::initializer_list<std::uint64_t> ids);

  std::uint64_t next_u64();
  // Uniform on [0, 1) with 53 random bits.
  double uniform();
  // Uniform on [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Marsaglia polar method; the spare value is cached).
  double normal();
  // Uniform integer in [0, n) without modulo bias.
  std::uint64_t below(std::uint64_t n);

  void fill_normal(Matrix& m);
  void fill_normal(Vector& v);

  // The full state, for checkpoints.
  struct State {
    std::uint64_t s[4];
    bool has_spare;
    double spare;
  };
  State state() const;
  void set_state(const State& st);

 private:
  std::uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Fixed stream ids, so that changing one part of an experiment does not
// shift the random numbers of another.
enum StreamId : std::uint64_t {
  kStreamData = 1,       // training-set draws
  kStreamInit = 2,       // model initialization
  kStreamTrain = 3,      // minibatch order and (t, z) draws
  kStreamEval = 4,       // evaluation (samplers, Monte Carlo)
  kStreamPopulation = 5  // fresh samples for the population loss
};

}  // namespace diffgen
