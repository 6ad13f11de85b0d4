// Eigen aliases used throughout diffgen. A batch of points is a Matrix whose
// rows are points (row-major, so one point is contiguous in memory).
#pragma once

#include <Eigen/Dense>

namespace diffgen {

using Index = Eigen::Index;
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using RowVector = Eigen::RowVectorXd;
// A full d x d matrix (covariances), column-major as Eigen's decompositions prefer.
using SquareMatrix = Eigen::MatrixXd;

}  // namespace diffgen
