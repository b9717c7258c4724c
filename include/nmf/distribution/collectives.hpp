// The collectives that move factor slices, with a tally of the bytes they move.
#pragma once

#include <vector>

#include "nmf/matrix.hpp"
#include "nmf/mpi.hpp"

namespace nmf {

// Bytes are a model, not a measurement: computed from the counts handed to each collective, as a
// bandwidth-optimal algorithm (ring or recursive halving/doubling) must move them: an all-gather or
// reduce-scatter of N bytes over p ranks moves N - (own share) per rank, an all-reduce 2 (p-1)/p N. The tally
// is this rank's; sum it over ranks for the job's traffic.
//
// Counts: MPI 3.1 (Open MPI 4.1) takes int counts and displacements. A collective whose counts or
// displacements would exceed that is split into several calls (rounds of at most INT_MAX / p elements per
// rank, through a buffer), so k x n / PR is not limited by 2^31; the bytes counted are the same.
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

  // Counts the agreement on failures after a local step (nmf::collectively: one all-reduce of an MPI_2INT).
  void count_agreement(MPI_Comm comm);
  static constexpr int kAgreementBytes = 8;

  double bytes_moved() const { return bytes_; }

 private:
  double bytes_ = 0;
};

namespace testing {
// Test seam: the largest count one MPI call of the collectives above is handed (INT_MAX by default, and at
// most that). Tests set a small one so that the splitting runs on small matrices; 0 restores the default.
// Returns the previous limit. Not thread-safe.
index_t set_max_collective_count(index_t count);
}  // namespace testing

}  // namespace nmf
