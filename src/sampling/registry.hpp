// The samplers by name, and the sampler settings any experiment takes
// (sampler.kind, sampler.steps, sampler.time_grid): adding a sampler is its
// function in src/sampling/ and one line in the registry (registry.cpp).
#pragma once

#include <string>
#include <vector>

#include "core/options.hpp"
#include "sampling/samplers.hpp"

namespace diffgen {

// How the sampler's times run from T down to eps (sampling/time_grid.hpp).
enum class TimeGridKind { Geometric, Uniform };

template <>
struct EnumNames<TimeGridKind> {
  static constexpr std::array table{std::pair{TimeGridKind::Geometric, std::string_view("geometric")},
                                    std::pair{TimeGridKind::Uniform, std::string_view("uniform")}};
};

// The grid of `steps` steps from T to eps.
Vector make_time_grid(TimeGridKind kind, double T, double eps, Index steps);

struct SamplerOptions {
  std::string kind = "euler-maruyama";  // a name of sampler_names()
  Index steps = 200;
  // Copies are made in the last steps: the uniform grid's last step from T = 1
  // in 500 steps denoises from s(T/500) ≈ 0.045 (VE), blurring a memorizer's
  // samples over many training points; the geometric grid ends at s ≈ 0.003.
  TimeGridKind time_grid = TimeGridKind::Geometric;
};

// The keys sampler.kind, sampler.steps and sampler.time_grid.
const OptionTable<SamplerOptions>& sampler_options();

// The names sampler.kind allows, in registry order.
std::vector<std::string> sampler_names();

// The sampler called `name`; ConfigError naming it and the names otherwise.
Sampler make_sampler(const std::string& name);

}  // namespace diffgen
