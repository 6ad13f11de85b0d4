// libFuzzer target: the NPY points parser on arbitrary bytes. A DataError is
// the expected answer to bad input; any other exception, a crash, a
// sanitizer report, a leak, a hang or an allocation beyond -rss_limit_mb (a
// hostile shape) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.hpp"
#include "data/points_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  diffgen::Matrix points;
  try {
    points = diffgen::parse_points_npy(bytes, "fuzz.npy");
  } catch (const diffgen::DataError&) {
    return 0;
  }
  // What a successful parse promises: at least one point and one
  // coordinate, all finite, no more values than the file has bytes for, and
  // the same points after encode_points_npy and a second parse.
  if (points.rows() < 1 || points.cols() < 1 || !points.allFinite()) __builtin_trap();
  if (static_cast<std::size_t>(points.size()) * 4 > size) __builtin_trap();
  if (diffgen::parse_points_npy(diffgen::encode_points_npy(points), "round-trip.npy") != points) __builtin_trap();
  return 0;
}
