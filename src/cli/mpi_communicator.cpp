// MPI ranks as a Communicator (engine/communicator.hpp), when built with MPI.
// Tested by tests/sweep_test.cpp (a sweep under mpirun -n 2).
#include "cli/mpi_communicator.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"

#ifdef DIFFGEN_HAVE_MPI
// The C API only: OpenMPI's deprecated C++ bindings need a library we do not link.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace diffgen::cli {
namespace {

#ifdef DIFFGEN_HAVE_MPI
void check(int code, const char* what) {
  if (code != MPI_SUCCESS) throw std::runtime_error(std::string("MPI call failed: ") + what);
}

// Only the calling thread talks to MPI (the thread pool never does), so
// MPI_Init without thread support is enough.
class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) check(MPI_Init(nullptr, nullptr), "MPI_Init");
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::string broadcast(const std::string& text) override {
    long long length = rank_ == 0 ? static_cast<long long>(text.size()) : 0;
    check(MPI_Bcast(&length, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
    std::string out = rank_ == 0 ? text : std::string(static_cast<std::size_t>(length), '\0');
    check(MPI_Bcast(out.data(), static_cast<int>(length), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
    return out;
  }

  std::vector<std::string> gather(const std::string& text) override {
    int length = static_cast<int>(text.size());
    std::vector<int> lengths(rank_ == 0 ? static_cast<std::size_t>(size_) : 0);
    check(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
    std::vector<int> offsets(lengths.size(), 0);
    long long total = 0;
    for (std::size_t r = 0; r < lengths.size(); ++r) {
      offsets[r] = static_cast<int>(total);
      total += lengths[r];
    }
    if (total > 2'000'000'000LL) throw std::runtime_error("MPI gather of more than 2 GB in one round");
    std::string all(static_cast<std::size_t>(total), '\0');
    check(MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
                      MPI_COMM_WORLD),
          "MPI_Gatherv");
    std::vector<std::string> out;
    for (std::size_t r = 0; r < lengths.size(); ++r)
      out.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lengths[r])));
    return out;
  }

 private:
  int rank_ = 0, size_ = 1;
};
#endif

}  // namespace

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

std::unique_ptr<Communicator> make_communicator() {
  if (!launched_by_mpi()) return std::make_unique<SingleProcess>();
#ifdef DIFFGEN_HAVE_MPI
  return std::make_unique<MpiCommunicator>();
#else
  throw ConfigError(
      "diffgen was started by mpirun but built without MPI, so every rank would run the whole sweep: install "
      "OpenMPI (scripts/setup.sh does) and rebuild, or run without mpirun");
#endif
}

}  // namespace diffgen::cli
