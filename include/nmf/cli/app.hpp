// The nmf_mpi program as a library call, so tests can run it on any communicator: it reads the command line and
// calls the driver (nmf/driver/run.hpp).
#pragma once

#include <mpi.h>

namespace nmf {

// Runs nmf_mpi with the given arguments on the ranks of `comm` (collective). Returns the exit code, the same on
// every rank. A failure is printed once, by rank 0, after the ranks agree on it; a rank whose failure the others
// cannot learn of (they are blocked in a collective it left) prints it with its rank and aborts the job.
int run_nmf_mpi(int argc, const char* const* argv, MPI_Comm comm);

}  // namespace nmf
