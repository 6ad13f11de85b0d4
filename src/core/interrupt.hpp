// A clean stop on Ctrl-C (SIGINT) or SIGTERM. The handler only sets a flag;
// long loops poll interrupt_requested() at points where their state can be
// saved (an epoch boundary), save it, and leave by throwing Interrupted. A
// second signal exits at once, for when saving itself hangs.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace diffgen {

// The shell's convention for a process stopped by Ctrl-C (128 + SIGINT); used
// for SIGTERM too, so scripts see one code for "stopped, can be resumed".
inline constexpr int kInterruptedExitCode = 130;

// A run stopped on request after saving what it needs to continue.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& what) : Error(what, kInterruptedExitCode) {}
};

// Installs the SIGINT and SIGTERM handlers for its lifetime and restores the
// previous ones when destroyed. The first signal sets the flag and prints a
// one-line notice on stderr; a second one ends the process with
// kInterruptedExitCode without saving. Not nestable.
class InterruptHandlers {
 public:
  InterruptHandlers();
  ~InterruptHandlers();
  InterruptHandlers(const InterruptHandlers&) = delete;
  InterruptHandlers& operator=(const InterruptHandlers&) = delete;
};

// Whether a stop was requested (by a signal or request_interrupt()).
// Async-signal-safe and cheap: a relaxed atomic load.
bool interrupt_requested();
// The signal that requested the stop, 0 for request_interrupt() or none.
int interrupt_signal();
// Throws Interrupted naming `where` when a stop was requested: for long
// evaluation loops (PF-ODE solves, path KL grids) that have no state to save
// and whose task is simply computed again on resume. Call it often enough
// that a stop is honoured well within a second.
void throw_if_interrupted(std::string_view where);
// Requests a stop as a signal would (tests; embedding programs).
void request_interrupt();
// Forgets a request, e.g. before a second run in the same process.
void clear_interrupt();

}  // namespace diffgen
