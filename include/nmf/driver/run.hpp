// A whole nmf_mpi run from its validated options: read X onto the grid (one copy per subgroup), choose k if
// asked, fit with restarts, report and write the outputs. The command line (src/cli/) calls this.
#pragma once

#include <mpi.h>

#include "nmf/options.hpp"

namespace nmf {

// Collective over `comm`. Returns normally when the run succeeded; a failure the ranks agreed on is thrown as
// the same CollectiveError on every rank.
void run_factorization(const Options& options, MPI_Comm comm);

}  // namespace nmf
