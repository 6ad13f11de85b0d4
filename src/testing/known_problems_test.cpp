// The known problems are what they say: their mixture mean and covariance in
// closed form, and samples that match them.
#include "testing/known_problems.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/rng.hpp"
#include "testing/temp_dir.hpp"
#include "testing/tolerances.hpp"

namespace diffgen::known {
namespace {

using tolerance::kRoundoff;
using tolerance::kStandardErrors;

TEST(KnownProblems, MomentsInClosedForm) {
  EXPECT_NEAR(gaussian_1d()->mean()[0], 0.5, kRoundoff);
  EXPECT_NEAR(gaussian_1d()->covariance()(0, 0), 2.0, kRoundoff);
  // ½N(±3, 1): variance 1 + 9.
  EXPECT_NEAR(two_mode_1d()->mean()[0], 0.0, kRoundoff);
  EXPECT_NEAR(two_mode_1d()->covariance()(0, 0), 10.0, kRoundoff);
  // In d dimensions each coordinate has mean ±3/√d: covariance I + (9/d) 11ᵀ.
  const SquareMatrix c8 = two_mode(8)->covariance();
  EXPECT_NEAR(c8(0, 0), 1.0 + 9.0 / 8.0, kRoundoff);
  EXPECT_NEAR(c8(2, 5), 9.0 / 8.0, kRoundoff);
  // 0.4 N((-2, 1), C0) + 0.6 N((1.5, -0.5), C1): mean (0.1, 0.1).
  const auto f = full_covariance_2d();
  EXPECT_NEAR(f->mean()[0], 0.1, kRoundoff);
  EXPECT_NEAR(f->mean()[1], 0.1, kRoundoff);
  // Var x = 0.4·1 + 0.6·0.7 + 0.4·0.6·(−2 − 1.5)² = 3.76.
  EXPECT_NEAR(f->covariance()(0, 0), 3.76, kRoundoff);
  EXPECT_FALSE(f->diagonal());
  EXPECT_EQ(gaussian_2d_full()->components(), 1);
}

TEST(KnownProblems, SamplesHaveTheirMoments) {
  for (const auto& p : known_problems()) {
    SCOPED_TRACE(p.name);
    Rng rng(3);
    const Index n = 20000;
    const Matrix x = p.target->sample(n, rng);
    const Vector mean = p.target->mean();
    const SquareMatrix cov = p.target->covariance();
    for (Index j = 0; j < x.cols(); ++j)
      EXPECT_NEAR(x.col(j).mean(), mean[j], kStandardErrors * std::sqrt(cov(j, j) / static_cast<double>(n)));
  }
  EXPECT_EQ(all_sdes().size(), 3u);
}

TEST(TempDir, IsAFreshFolderRemovedWithItsContents) {
  std::filesystem::path kept;
  {
    const TempDir dir;
    kept = dir.path();
    ASSERT_TRUE(std::filesystem::is_directory(kept));
    EXPECT_TRUE(std::filesystem::is_empty(kept));
    EXPECT_NE(kept.filename().string().find("TempDir-IsAFreshFolder"), std::string::npos) << kept;
    std::filesystem::create_directories(dir / "a" / "b");
    const TempDir other;
    EXPECT_NE(other.path(), kept);
  }
  EXPECT_FALSE(std::filesystem::exists(kept));
}

}  // namespace
}  // namespace diffgen::known
