// The Communicator of a sweep started by mpirun (OpenMPI): ranks are MPI
// ranks of MPI_COMM_WORLD. Kept in the CLI so the library does not depend on
// MPI; built when CMake finds MPI (DIFFGEN_HAVE_MPI).
#pragma once

#include <memory>

#include "engine/communicator.hpp"

namespace diffgen::cli {

// Whether this process was started by an MPI launcher (mpirun, mpiexec):
// its environment carries a rank.
bool launched_by_mpi();

// MPI when launched by mpirun, else a single process. Initializes MPI (once;
// the communicator finalizes it when destroyed). Throws ConfigError when
// launched by mpirun but built without MPI, as every rank would then run the
// whole sweep by itself.
std::unique_ptr<Communicator> make_communicator();

}  // namespace diffgen::cli
