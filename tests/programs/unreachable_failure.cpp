// A failure the other ranks cannot learn of: rank 1 hits a count too large for MPI while the others wait in a
// collective it will never join. FailureAgreement must not hang: after its timeout rank 1 prints its rank and
// reason and aborts the job with the failure's exit code (6). Run by ctest (tests/CMakeLists.txt), which checks
// the message and a time limit.
#include <mpi.h>

#include <optional>

#include "nmf/mpi.hpp"
#include "nmf/types.hpp"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  nmf::FailureAgreement agreement(MPI_COMM_WORLD);
  if (rank == 1) {
    std::optional<nmf::LocalFailure> failure;
    try {
      (void)nmf::mpi_count(nmf::index_t{1} << 40, "a message length");
    } catch (...) {
      failure = nmf::describe_current_exception();
    }
    agreement.agree(failure, 3.0);
  } else {
    MPI_Barrier(MPI_COMM_WORLD);  // a collective rank 1 left
  }
  MPI_Finalize();
  return 0;
}
