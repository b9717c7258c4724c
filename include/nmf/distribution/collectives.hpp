// The collectives that move factor slices, with a tally of the bytes they move.
#pragma once

#include <vector>

#include "nmf/matrix.hpp"
#include "nmf/mpi.hpp"

namespace nmf {

// Bytes are counted per rank as a bandwidth-optimal algorithm (ring or recursive halving/doubling) must
// move them: an all-gather or reduce-scatter of N bytes over p ranks moves N - (own share) per rank, an
// all-reduce 2 (p-1)/p N. The tally is this rank's; sum it over ranks for the job's traffic.
class FactorCollectives {
 public:
  // Concatenates the k x counts[r] slices of the ranks of `comm`, in rank order, into out (k x sum).
  void allgather(MPI_Comm comm, const DenseMatrix& slice, const std::vector<index_t>& counts, DenseMatrix& out);

  // Sums `full` (k x sum of counts) over `comm`; this rank keeps its own columns in `slice`. `full` is
  // consumed: on a communicator of one rank the two matrices just swap storage, with no copy.
  void reduce_scatter(MPI_Comm comm, DenseMatrix& full, const std::vector<index_t>& counts, DenseMatrix& slice);

  // In-place sum over `comm`.
  void allreduce_sum(MPI_Comm comm, std::vector<double>& values);

  // In-place average over `comm` of a matrix every rank holds a version of.
  void allreduce_average(MPI_Comm comm, DenseMatrix& values);

  double bytes_moved() const { return bytes_; }

 private:
  double bytes_ = 0;
};

}  // namespace nmf
