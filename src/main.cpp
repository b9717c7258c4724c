// nmf_mpi: the command-line program. All of it lives in libnmf (nmf::run_nmf_mpi); main only owns MPI's
// lifetime, which a library must never do.
#include <mpi.h>

#include "nmf/cli/app.hpp"

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  const int code = nmf::run_nmf_mpi(argc, argv, MPI_COMM_WORLD);
  MPI_Finalize();
  return code;
}
