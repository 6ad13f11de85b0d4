// Deterministic parallel loops. Work is split into chunks that depend only on
// the problem size (never on the thread count), and per-chunk results are
// combined in chunk order, so results are bit-identical for any number of
// threads.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <thread>

#include "core/types.hpp"

namespace diffgen {

// Number of worker threads used by parallel_for (default: the CPUs this
// process may use, default_num_threads()). Set once from --threads.
void set_num_threads(int n);
int num_threads();

// The CPUs this process may actually use: the smallest of the affinity mask
// (sched_getaffinity), the cgroup CPU quota (v2 cpu.max, v1 cfs_quota_us /
// cfs_period_us, rounded up) and hardware_concurrency; at least 1.
int default_num_threads();

// CPUs granted by a cgroup quota file's contents, rounded up; 0 when the text
// sets no limit ("max 100000", quota -1) or cannot be read. Separate from the
// file system so that the parsing is tested on known contents.
int cpus_from_cgroup_v2(const std::string& cpu_max);
int cpus_from_cgroup_v1(const std::string& quota_us, const std::string& period_us);

// Starts a worker thread. Replaceable for tests, which cannot exhaust the
// system's thread limit (root is exempt from RLIMIT_NPROC); the default is
// std::thread's constructor, which throws std::system_error on failure.
using ThreadStarter = std::function<std::thread(std::function<void()>)>;
void set_thread_starter(ThreadStarter starter);  // empty: back to the default

// Calls body(begin, end) over [0, n) split into chunks of `grain` indices
// (the last may be shorter). Chunks run concurrently; each index is visited
// exactly once. Exceptions thrown by body are rethrown on the caller.
void parallel_for(Index n, Index grain, const std::function<void(Index begin, Index end)>& body);

// Calls body(i) for i in [0, n) with one task per index (coarse work such as
// independent seeds).
void parallel_tasks(Index n, const std::function<void(Index i)>& body);

}  // namespace diffgen
