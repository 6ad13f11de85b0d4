// Deterministic parallel loops. Work is split into chunks that depend only on
// the problem size (never on the thread count), and per-chunk results are
// combined in chunk order, so results are bit-identical for any number of
// threads.
#pragma once

#include <cstddef>
#include <functional>

#include "core/types.hpp"

namespace diffgen {

// Number of worker threads used by parallel_for (default: hardware
// concurrency). Set once from --threads.
void set_num_threads(int n);
int num_threads();

// Calls body(begin, end) over [0, n) split into chunks of `grain` indices
// (the last may be shorter). Chunks run concurrently; each index is visited
// exactly once. Exceptions thrown by body are rethrown on the caller.
void parallel_for(Index n, Index grain, const std::function<void(Index begin, Index end)>& body);

// Calls body(i) for i in [0, n) with one task per index (coarse work such as
// independent seeds).
void parallel_tasks(Index n, const std::function<void(Index i)>& body);

}  // namespace diffgen
