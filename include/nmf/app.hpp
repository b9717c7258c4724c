// The nmf_mpi program as a library call, so tests can run it on any communicator.
#pragma once

#include <mpi.h>

namespace nmf {

// Runs nmf_mpi with the given arguments on the ranks of `comm` (collective). Returns the exit code, the
// same on every rank. Errors that all ranks agreed on are printed once, by rank 0, to stderr; an error
// that could not be agreed (an MPI failure inside a collective) aborts the job after printing it.
int run_nmf_mpi(int argc, const char* const* argv, MPI_Comm comm);

}  // namespace nmf
