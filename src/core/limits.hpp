// Upper bounds on sizes, memory and input files. A count computed from
// doubles (a grid's (hi - lo) / h, a setting such as kl.points) is converted
// through one checked helper: a NaN, an infinity, a negative value or a count
// beyond its limit is refused before anything is allocated, instead of
// overflowing the integer conversion (undefined behaviour) or running out of
// memory after hours of training.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/types.hpp"

namespace diffgen {

// A generous bound on any grid or table length: 2^31 doubles are 16 GiB.
inline constexpr Index kMaxGridPoints = Index{1} << 31;

// Largest input file read whole (CSV, NPY, TOML, sweep and plan files): 4 GiB.
inline constexpr std::uint64_t kMaxInputFileBytes = std::uint64_t{4} << 30;

// `value` rounded up (ceil) to an Index when finite and in [0, max_count].
// Otherwise throws NumericalError (exit code 4) naming `what`: for counts that
// are computed mid-run, where no single setting is to blame.
Index checked_count(double value, Index max_count, std::string_view what);

// The same for counts that follow from settings: throws ConfigError (exit
// code 2) naming `keys` (e.g. "perturbed.eps"), the value and the limit.
Index checked_setting_count(double value, Index max_count, std::string_view keys);

// Memory a run may plan to use: half the physical memory (sysconf), or 8 GiB
// when the system does not say. Half, because the run's own working memory,
// the plotter and the rest of the machine need room too.
std::uint64_t memory_limit_bytes();

// Throws ConfigError naming `keys` when `bytes` (a double, so that products of
// large settings cannot wrap) exceeds memory_limit_bytes():
// "kl.points = 1e9 needs about 24 GiB for the KL grid; at most 8 GiB ...".
void require_memory(double bytes, std::string_view keys, std::string_view purpose);

// "24 GiB", "512 MiB", "3 KiB", "17 bytes".
std::string format_bytes(double bytes);

}  // namespace diffgen

namespace diffgen {

// value (already rounded to an integer) clamped to [lo, hi], the clamping done in double so that a
// value far outside (or infinite) cannot overflow the conversion. NaN gives
// lo. For indices into a grid, where out-of-range means "the nearest end".
Index clamped_index(double value, Index lo, Index hi);

}  // namespace diffgen

namespace diffgen {

// A size that follows from settings and the memory it takes: `count` items
// of `bytes_per_item` each. Refuses (ConfigError naming `keys`) a count that
// checked_setting_count refuses or that needs more than memory_limit_bytes(),
// saying how much it needs and for what (`purpose`).
Index checked_setting_size(double count, double bytes_per_item, std::string_view keys, std::string_view purpose);

}  // namespace diffgen
