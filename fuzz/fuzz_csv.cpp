// libFuzzer target: the CSV points parser on arbitrary bytes. A DataError is
// the expected answer to bad input; any other exception, a crash, a
// sanitizer report, a leak or a hang is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/io.hpp"
#include "data/points_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  diffgen::Matrix points;
  try {
    points = diffgen::parse_points_csv(bytes, "fuzz.csv");
  } catch (const diffgen::DataError&) {
    return 0;
  }
  // What a successful parse promises: at least one point and one
  // coordinate, all finite, and the same points when written back as the
  // shortest decimal text and read again.
  if (points.rows() < 1 || points.cols() < 1 || !points.allFinite()) __builtin_trap();
  std::string text;
  for (diffgen::Index i = 0; i < points.rows(); ++i) {
    for (diffgen::Index j = 0; j < points.cols(); ++j) {
      text += diffgen::format_double(points(i, j));
      text += j + 1 < points.cols() ? ',' : '\n';
    }
  }
  if (diffgen::parse_points_csv(text, "round-trip.csv") != points) __builtin_trap();
  return 0;
}
