// The progress line: its fields for known counts and times, the bar's fill,
// fitting in the terminal's width (UTF-8 counted by code points), unknown
// totals; and the bar drawing to a stream and ending its line once.
#include "core/progress.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace diffgen {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Code points of UTF-8 text.
int code_points(const std::string& s) {
  int n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

TEST(ProgressLine, ShowsCountsPercentRateAndEta) {
  // 25 of 100 in 5 s: 5/s, 75 left → 15 s.
  const std::string line = format_progress_line("train", 25, 100, 5.0, "", 80);
  EXPECT_THAT(line, StartsWith("train ["));
  EXPECT_THAT(line, HasSubstr("25/100  25% 5/s ETA 0:15"));
  // The bar: a quarter of its 30 cells filled.
  EXPECT_THAT(line, HasSubstr("[#######-----------------------]"));
}

TEST(ProgressLine, CompleteShowsTheElapsedTimeInsteadOfTheEta) {
  const std::string line = format_progress_line("run", 100, 100, 3725.0, "KL 0.01", 100, true);
  EXPECT_THAT(line, HasSubstr("100/100 100%"));
  EXPECT_THAT(line, HasSubstr(" in 1:02:05"));
  EXPECT_THAT(line, EndsWith("  KL 0.01"));
  EXPECT_THAT(line, Not(HasSubstr("ETA")));
}

TEST(ProgressLine, RatesBelowOnePerSecondAreSecondsPerUnit) {
  EXPECT_THAT(format_progress_line("", 1, 10, 4.0, "", 80), HasSubstr("4s/it"));
  EXPECT_THAT(format_progress_line("", 20000, 0, 2.0, "", 80), HasSubstr("20000 10k/s"));
  EXPECT_THAT(format_progress_line("", 0, 10, 0.0, "", 80), HasSubstr("ETA -:--"));
}

TEST(ProgressLine, AnUnknownTotalHasNoBar) {
  const std::string line = format_progress_line("sweep", 7, 0, 7.0, "", 80);
  EXPECT_EQ(line, "sweep 7 1/s");
}

TEST(ProgressLine, FitsInTheWidthLeavingTheLastColumnFree) {
  for (const int width : {1, 10, 30, 45, 80}) {
    const std::string line = format_progress_line("σ-sweep ✓", 3, 10, 1.0, "status text", width);
    EXPECT_LE(code_points(line), std::max(1, width - 1)) << width << ": " << line;
  }
  // Too narrow for a bar of 10 cells: the numbers without a bar.
  EXPECT_THAT(format_progress_line("x", 3, 10, 1.0, "", 30), Not(HasSubstr("[")));
}

TEST(ProgressBar, DrawsToItsStreamAndEndsTheLineOnce) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressBar bar("work", 4, f, 60);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] { bar.add(1); });
    for (auto& t : threads) t.join();
    EXPECT_EQ(bar.done(), 4);
    bar.set_status("done");
    bar.finish();
    bar.finish();  // idempotent
  }  // the destructor draws nothing more
  std::rewind(f);
  std::string text;
  for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) text += static_cast<char>(c);
  std::fclose(f);
  EXPECT_THAT(text, StartsWith("\rwork ["));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_THAT(text, HasSubstr("4/4 100%"));
  EXPECT_THAT(text, HasSubstr("  done\x1b[K\n"));
}

TEST(ProgressBar, IsSilentWhenDisabled) {
  ProgressBar bar("quiet", 10, false);
  EXPECT_FALSE(bar.active());
  bar.add(3);
  EXPECT_EQ(bar.done(), 3);
}

}  // namespace
}  // namespace diffgen
