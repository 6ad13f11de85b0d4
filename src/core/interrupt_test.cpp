#include "core/interrupt.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace diffgen {
namespace {

TEST(Interrupt, RequestAndClear) {
  clear_interrupt();
  EXPECT_FALSE(interrupt_requested());
  request_interrupt();
  EXPECT_TRUE(interrupt_requested());
  EXPECT_EQ(interrupt_signal(), 0);
  clear_interrupt();
  EXPECT_FALSE(interrupt_requested());
}

TEST(Interrupt, ThrowIfInterruptedNamesWhere) {
  clear_interrupt();
  EXPECT_NO_THROW(throw_if_interrupted("a solve"));
  request_interrupt();
  try {
    throw_if_interrupted("a solve");
    ADD_FAILURE() << "no Interrupted";
  } catch (const Interrupted& e) {
    EXPECT_NE(std::string(e.what()).find("a solve"), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), kInterruptedExitCode);
  }
  clear_interrupt();
}

TEST(Interrupt, FirstSignalSetsTheFlagAndTheProcessGoesOn) {
  clear_interrupt();
  for (int sig : {SIGINT, SIGTERM}) {
    {
      InterruptHandlers handlers;
      ASSERT_EQ(std::raise(sig), 0);
      EXPECT_TRUE(interrupt_requested());
      EXPECT_EQ(interrupt_signal(), sig);
      clear_interrupt();
    }
    // The handlers are gone again: the previous disposition (default) is back.
    struct sigaction now {};
    ASSERT_EQ(::sigaction(sig, nullptr, &now), 0);
    EXPECT_EQ(now.sa_handler, SIG_DFL);
  }
}

TEST(Interrupt, SecondSignalExitsAtOnceWithCode130) {
  EXPECT_EXIT(
      {
        clear_interrupt();
        InterruptHandlers handlers;
        std::raise(SIGTERM);
        std::raise(SIGINT);
        std::exit(0);  // not reached
      },
      ::testing::ExitedWithCode(kInterruptedExitCode), "second interrupt");
}

TEST(Interrupt, InterruptedCarriesExitCode130) {
  const Interrupted e("stopped");
  EXPECT_EQ(e.exit_code(), 130);
  EXPECT_STREQ(e.what(), "stopped");
}

}  // namespace
}  // namespace diffgen
