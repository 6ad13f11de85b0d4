#include "core/limits.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "core/error.hpp"

namespace diffgen {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Limits, CheckedCountRoundsUpWithinTheLimit) {
  EXPECT_EQ(checked_count(0.0, 10, "grid"), 0);
  EXPECT_EQ(checked_count(2.1, 10, "grid"), 3);
  EXPECT_EQ(checked_count(10.0, 10, "grid"), 10);
}

TEST(Limits, CheckedCountRefusesWhatWouldOverflow) {
  // 1e100 and 1e151 overflowed static_cast<Index> (undefined behaviour).
  for (double bad : {kNaN, kInf, -1.0, 1e100, 1e151, 10.5}) {
    try {
      checked_count(bad, 10, "empirical floor: grid");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const NumericalError& e) {
      EXPECT_THAT(std::string(e.what()), HasSubstr("empirical floor: grid"));
    }
  }
}

TEST(Limits, SettingCountsAreConfigErrorsNamingTheKeys) {
  try {
    checked_setting_count(1e300, 100, "perturbed.eps");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("perturbed.eps"), HasSubstr("100")));
  }
}

TEST(Limits, SettingSizesSayHowMuchMemoryTheyNeed) {
  const double limit = static_cast<double>(memory_limit_bytes());
  try {
    checked_setting_size(4.0 * limit / 8.0, 8.0, "kl.points = 1e9", "the KL grid");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()),
                AllOf(HasSubstr("kl.points = 1e9"), HasSubstr("needs about"), HasSubstr("the KL grid")));
  }
  EXPECT_EQ(checked_setting_size(1000.0, 8.0, "kl.points", "the KL grid"), 1000);
}

TEST(Limits, MemoryLimitIsPositive) {
  EXPECT_GT(memory_limit_bytes(), std::uint64_t{0});
}

TEST(Limits, FormatBytes) {
  EXPECT_EQ(format_bytes(17), "17 bytes");
  EXPECT_EQ(format_bytes(2048), "2 KiB");
  EXPECT_EQ(format_bytes(24.0 * (1 << 30)), "24 GiB");
}

TEST(Limits, ClampedIndexHoldsFarValues) {
  EXPECT_EQ(clamped_index(5.0, 0, 10), 5);
  EXPECT_EQ(clamped_index(-1e300, 0, 10), 0);
  EXPECT_EQ(clamped_index(1e300, 0, 10), 10);
  EXPECT_EQ(clamped_index(kInf, 0, 10), 10);
  EXPECT_EQ(clamped_index(kNaN, 0, 10), 0);
}

}  // namespace
}  // namespace diffgen
