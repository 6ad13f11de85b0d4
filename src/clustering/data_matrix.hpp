// Checks and sums shared by the clustering routines on a data matrix (rows =
// points). The column means are summed over fixed chunks of rows in chunk
// order, so they are the same bits for any thread count of the caller.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/types.hpp"

namespace diffgen {

// NumericalError naming `who`, the point and the coordinate of the first non-finite value.
inline void require_finite_points(const Matrix& data, std::string_view who) {
  for (Index i = 0; i < data.rows(); ++i)
    for (Index j = 0; j < data.cols(); ++j)
      if (!std::isfinite(data(i, j)))
        throw NumericalError(
            fmt::format("{}: point {}, coordinate {} is {}", who, i, j, format_double(data(i, j))));
}

// The column means, summed over chunks of `chunk` rows in chunk order.
inline RowVector chunked_column_means(const Matrix& data, Index chunk) {
  RowVector sum = RowVector::Zero(data.cols());
  for (Index b = 0; b < data.rows(); b += chunk) sum += data.middleRows(b, std::min(chunk, data.rows() - b)).colwise().sum();
  return sum / static_cast<double>(data.rows());
}

}  // namespace diffgen
