#include "nmf/distribution/dist_matrix.hpp"

#include "nmf/mpi.hpp"

namespace nmf {

MatrixStats reduce_matrix_stats(MPI_Comm grid_comm, const LocalBlock& block, index_t local_duplicates) {
  const auto& values = block.storage == Storage::dense ? block.dense.values() : block.csr.values;
  double local_sums[2] = {0.0, 0.0};  // sum of squares, sum
  for (double v : values) {
    local_sums[0] += v * v;
    local_sums[1] += v;
  }
  const index_t stored = static_cast<index_t>(values.size());
  index_t local_counts[3] = {block.nonzeros, stored, local_duplicates};
  index_t global_counts[3] = {0, 0, 0};
  double global_sums[2] = {0.0, 0.0};
  NMF_MPI_CHECK(MPI_Allreduce(local_sums, global_sums, 2, MPI_DOUBLE, MPI_SUM, grid_comm));
  NMF_MPI_CHECK(MPI_Allreduce(local_counts, global_counts, 3, MPI_INT64_T, MPI_SUM, grid_comm));
  index_t spread[2] = {-block.nonzeros, block.nonzeros};  // max of the negation is minus the min
  index_t spread_max[2] = {0, 0};
  NMF_MPI_CHECK(MPI_Allreduce(spread, spread_max, 2, MPI_INT64_T, MPI_MAX, grid_comm));

  MatrixStats stats;
  stats.frobenius_sq = global_sums[0];
  stats.sum = global_sums[1];
  stats.nonzeros = global_counts[0];
  stats.stored_entries = global_counts[1];
  stats.duplicates = global_counts[2];
  stats.min_block_nonzeros = -spread_max[0];
  stats.max_block_nonzeros = spread_max[1];
  return stats;
}

}  // namespace nmf
