// Test-only: counts heap allocations by interposing malloc, calloc and
// realloc (glibc, without AddressSanitizer), so a test can check that a hot
// loop allocates nothing. operator new and Eigen both allocate through
// malloc. Include from exactly one source file of a test program.
#pragma once

#include <atomic>
#include <cstddef>

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define DIFFGEN_COUNTS_MALLOC 1

namespace diffgen::testing {
inline std::atomic<long> malloc_calls{0};
}  // namespace diffgen::testing

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);

void* malloc(std::size_t size) {
  diffgen::testing::malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  diffgen::testing::malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
  diffgen::testing::malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
}
#endif

namespace diffgen::testing {

// Heap allocations made by f(), or -1 where they cannot be counted.
template <class F>
long count_allocations(F&& f) {
#ifdef DIFFGEN_COUNTS_MALLOC
  const long before = malloc_calls.load();
  f();
  return malloc_calls.load() - before;
#else
  f();
  return -1;
#endif
}

}  // namespace diffgen::testing
