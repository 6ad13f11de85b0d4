// libFuzzer target: the configuration parsers on arbitrary bytes, as a TOML
// file (Config::merge_toml_string) and as a --set assignment
// (Config::set_from_assignment), on a schema with keys of every type,
// ranges, choices and nested tables. A ConfigError is the expected answer to
// bad input; any other exception, a crash, a sanitizer report, a leak or a
// hang is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/config.hpp"
#include "core/error.hpp"

namespace {

using diffgen::Config;
using diffgen::Schema;

Schema make_schema() {
  Schema schema;
  schema.add_int("n", 100, "training-set size", 1, 1'000'000)
      .add_int("seed", 0, "base seed")
      .add_int("train.epochs", 10, "epochs", 0)
      .add_double("lr", 1e-3, "learning rate", 0.0, 1.0, true, false)
      .add_double("kl.t0", 0.065, "time of the integrated score", 0.0, std::nullopt, true)
      .add_double("sde.sigma", 25.0, "VE sigma", 1.0)
      .add_double("offset", 0.0, "any number")
      .add_bool("quiet", false, "no progress bar")
      .add_bool("kl.pf_ode", true, "also compute KL (b)")
      .add_string("optimizer", "adam", "optimizer", {"sgd", "adam"})
      .add_string("sde.kind", "ve", "forward process", {"ve", "vp", "ou"})
      .add_string("name", "run", "free text");
  return schema;
}

// The promise of Config::to_toml: its text read into a fresh Config gives
// the same values. (Checked once an input set something: the defaults alone
// would repeat the same check at every input.)
void check_round_trip(const Config& config) {
  if (config.user_set_keys().empty()) return;
  Config again(config.schema());
  again.merge_toml_string(config.to_toml(), "round-trip.toml");
  for (const auto& spec : config.schema().keys()) {
    if (again.get(spec.key) != config.get(spec.key)) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Schema schema = make_schema();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  Config from_file(schema);
  try {
    from_file.merge_toml_string(text, "fuzz.toml");
  } catch (const diffgen::ConfigError&) {
    // All or nothing: a failed merge leaves every key at its default.
    if (!from_file.user_set_keys().empty()) __builtin_trap();
  }
  check_round_trip(from_file);

  Config from_assignment(schema);
  try {
    from_assignment.set_from_assignment(text);
  } catch (const diffgen::ConfigError&) {
  }
  check_round_trip(from_assignment);
  return 0;
}
