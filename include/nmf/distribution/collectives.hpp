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
// rank and kSplitRoundBytes per round, through a buffer), so k x n / PR is not limited by 2^31; the bytes counted
// are the same. (The counts are the same on every rank, so every rank takes the same path.)
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

// Variable-count collectives over 64-bit counts and displacements, in elements of `type` (consecutive elements
// `extent` bytes apart, lower bound 0). MPI 3.1 (Open MPI 4.1) takes int counts and displacements and has no
// large-count (_c) calls; when a count or displacement of the collective exceeds that limit on ANY rank, every rank
// takes the split path together: rounds of at most L elements per peer (L = limit / ranks, and at most
// kSplitRoundBytes per round), packed into round buffers so that every count and displacement of one call fits.
// The plan is agreed collectively, never decided by one rank, so no rank throws alone or leaves the others
// waiting in a collective. The elements moved are the same either way (byte tallies of callers do not change).

// Bytes of one round's send (and receive) buffer on the split path.
constexpr index_t kSplitRoundBytes = index_t{256} << 20;

// The displacements of blocks of `counts` elements laid end to end in rank order (exclusive prefix sum).
std::vector<index_t> packed_displacements(const std::vector<index_t>& counts);

// Collective over `comm` (MPI_Alltoall of 64-bit counts): element r of the result is what rank r sends this rank,
// given send_counts[r], what this rank sends rank r.
std::vector<index_t> exchange_counts(MPI_Comm comm, const std::vector<index_t>& send_counts);

// Collective over `comm`: MPI_Alltoallv over 64-bit counts and displacements (one per rank of `comm`). Costs one
// small all-reduce beyond the MPI_Alltoallv (the agreement on the plan: a rank knows only its own counts).
void alltoallv(MPI_Comm comm, const void* send, const std::vector<index_t>& send_counts,
               const std::vector<index_t>& send_displs, void* recv, const std::vector<index_t>& recv_counts,
               const std::vector<index_t>& recv_displs, MPI_Datatype type);

// Collective over `comm`: MPI_Allgatherv over 64-bit counts and displacements. `send` holds counts[this rank]
// elements, or is MPI_IN_PLACE (they are already at their place in `recv`). MPI requires every rank to pass the
// same counts and displacements, so every rank derives the same plan from them without communicating.
void allgatherv(MPI_Comm comm, const void* send, void* recv, const std::vector<index_t>& counts,
                const std::vector<index_t>& displs, MPI_Datatype type);

namespace testing {
// Test seam: the largest count one MPI call of the collectives above is handed (INT_MAX by default, and at
// most that), for the factor collectives and the variable-count collectives above alike. Tests set a small one so
// that the splitting runs on small matrices; 0 restores the default.
// Returns the previous limit. Not thread-safe.
index_t set_max_collective_count(index_t count);
}  // namespace testing

}  // namespace nmf
