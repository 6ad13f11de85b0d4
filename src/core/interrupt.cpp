#include "core/interrupt.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace diffgen {
namespace {

// A signal handler may touch only lock-free atomics (or volatile sig_atomic_t).
static_assert(std::atomic<int>::is_always_lock_free);
std::atomic<int> g_requests{0};
std::atomic<int> g_signal{0};

struct sigaction g_previous_int {
}, g_previous_term{};

void on_signal(int sig) {
  // Only async-signal-safe calls here: atomics, write(2), _exit(2).
  if (g_requests.fetch_add(1, std::memory_order_relaxed) > 0) {
    constexpr char kNow[] = "\ndiffgen: second interrupt, exiting without saving\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kNow, sizeof kNow - 1);
    ::_exit(kInterruptedExitCode);
  }
  g_signal.store(sig, std::memory_order_relaxed);
  constexpr char kNotice[] =
      "\ndiffgen: interrupted, saving checkpoints at the next epoch (interrupt again to exit at once)\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kNotice, sizeof kNotice - 1);
}

void install(int sig, struct sigaction* previous) {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // Restart interrupted system calls: a checkpoint being written when the
  // signal lands must not fail with EINTR.
  action.sa_flags = SA_RESTART;
  ::sigaction(sig, &action, previous);
}

}  // namespace

InterruptHandlers::InterruptHandlers() {
  install(SIGINT, &g_previous_int);
  install(SIGTERM, &g_previous_term);
}

InterruptHandlers::~InterruptHandlers() {
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
}

bool interrupt_requested() {
  return g_requests.load(std::memory_order_relaxed) > 0;
}

int interrupt_signal() {
  return g_signal.load(std::memory_order_relaxed);
}

void throw_if_interrupted(std::string_view where) {
  if (interrupt_requested()) throw Interrupted("stopped during " + std::string(where));
}

void request_interrupt() {
  g_requests.fetch_add(1, std::memory_order_relaxed);
}

void clear_interrupt() {
  g_requests.store(0, std::memory_order_relaxed);
  g_signal.store(0, std::memory_order_relaxed);
}

}  // namespace diffgen
