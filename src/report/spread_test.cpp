#include "report/spread.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace diffgen {
namespace {

using Json = nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// The 0.975 quantile of Student's t with 3 degrees of freedom.
constexpr double kT975Dof3 = 3.182446305284263;

TEST(SpreadJson, KnownSample) {
  // {1, 2, 3, 4}: mean 2.5, sample variance 5/3, ci95 = t_{0.975,3}·sd/√4.
  const Spread s = spread({1, 2, 3, 4});
  const Json j = spread_json(s);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j.size(), 6u);
  for (const char* key : {"count", "mean", "sd", "ci95", "min", "max"}) EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["count"].get<int>(), 4);
  EXPECT_EQ(j["mean"].get<double>(), 2.5);
  EXPECT_NEAR(j["sd"].get<double>(), std::sqrt(5.0 / 3.0), 1e-15);
  EXPECT_NEAR(j["ci95"].get<double>(), kT975Dof3 * std::sqrt(5.0 / 3.0) / 2.0, 1e-12);
  EXPECT_EQ(j["min"].get<double>(), 1.0);
  EXPECT_EQ(j["max"].get<double>(), 4.0);
  // The JSON holds the spread's own numbers, bit for bit.
  EXPECT_EQ(j["sd"].get<double>(), s.sd);
  EXPECT_EQ(j["ci95"].get<double>(), s.ci95);
}

TEST(SpreadJson, MissingValuesAreLeftOut) {
  // NaN and infinities are not seeds' values: {1, 3} remains.
  const Json j = spread_json(spread({1.0, kNaN, 3.0, kInf}));
  EXPECT_EQ(j["count"].get<int>(), 2);
  EXPECT_EQ(j["mean"].get<double>(), 2.0);
  EXPECT_NEAR(j["sd"].get<double>(), std::sqrt(2.0), 1e-15);
  EXPECT_EQ(j["min"].get<double>(), 1.0);
  EXPECT_EQ(j["max"].get<double>(), 3.0);
}

TEST(SpreadJson, OneValueHasNoWidth) {
  const Json j = spread_json(spread({0.25}));
  EXPECT_EQ(j, (Json{{"count", 1}, {"mean", 0.25}, {"sd", 0.0}, {"ci95", 0.0}, {"min", 0.25}, {"max", 0.25}}));
}

TEST(SpreadJson, NoFiniteValueIsCountZeroAndMeanNull) {
  for (const auto& values : {std::vector<double>{kNaN, kNaN}, std::vector<double>{}, std::vector<double>{kInf}}) {
    const Json j = spread_json(spread(values));
    EXPECT_EQ(j, (Json{{"count", 0}, {"mean", nullptr}})) << j.dump();
    // Valid JSON: no NaN can reach summary.json.
    EXPECT_NO_THROW(Json::parse(j.dump()));
  }
}

TEST(FormatPm, MeanAndHalfWidth) {
  EXPECT_EQ(format_pm(spread({1, 2, 3, 4})), "2.5 ± 2.1");
  // The mean with `digits` significant digits, the half-width with two.
  EXPECT_EQ(format_pm(spread({0.0120, 0.0126}), 3), "0.0123 ± 0.0038");
  EXPECT_EQ(format_pm(spread({1, 2, 3, 4}), 1), "2 ± 2.1");
  EXPECT_EQ(format_pm(spread({1234.0, 1238.0})), "1.24e+03 ± 25");  // ci95 = t_{0.975,1}·√8/√2 = 25.4
}

TEST(FormatPm, OneValueAloneAndNoneAsADash) {
  EXPECT_EQ(format_pm(spread({0.0123})), "0.0123");
  EXPECT_EQ(format_pm(spread({0.0123, kNaN})), "0.0123");
  EXPECT_EQ(format_pm(spread({2.0 / 3.0}), 4), "0.6667");
  EXPECT_EQ(format_pm(spread({kNaN})), "-");
  EXPECT_EQ(format_pm(spread({})), "-");
}

TEST(FormatPm, AnyIntervalByItsHalfWidth) {
  EXPECT_EQ(format_pm(-1.0172, 0.0131), "-1.02 ± 0.013");
  EXPECT_EQ(format_pm(-1.0172, kNaN), "-1.02");  // no interval (e.g. a slope through 2 points)
  EXPECT_EQ(format_pm(kNaN, 0.1), "-");
}

TEST(FormatWithError, AValueAboveItsErrorIsShownWithIt) {
  EXPECT_EQ(format_with_error(0.0024947, 1.14e-6), "0.002495 (error estimate 1.1e-06)");
  EXPECT_EQ(format_with_error(0.5, std::numeric_limits<double>::quiet_NaN()), "0.5");
  EXPECT_EQ(format_with_error(std::numeric_limits<double>::quiet_NaN(), 1e-6), "-");
}

TEST(FormatWithError, AValueWithinItsErrorIsNeverPrintedAsANumber) {
  // The exact-prior perfect learner's (b): -3.5e-7 computed, 1.1e-6 error.
  EXPECT_EQ(format_with_error(-3.5e-7, 1.14e-6), "< 1.1e-06 (zero within its error estimate)");
  EXPECT_EQ(format_with_error(1e-6, 1.14e-6), "< 1.1e-06 (zero within its error estimate)");
}

}  // namespace
}  // namespace diffgen
