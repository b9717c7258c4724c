#include "nmf/distribution/collectives.hpp"

#include <numeric>

namespace nmf {

namespace {
// MPI counts and displacements (in doubles) of k x counts[r] slices laid end to end.
void slice_counts(index_t k, const std::vector<index_t>& counts, std::vector<int>& sizes, std::vector<int>& displs) {
  sizes.resize(counts.size());
  displs.resize(counts.size());
  index_t offset = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    sizes[r] = mpi_count(k * counts[r], "factor slice length");
    displs[r] = mpi_count(offset, "factor block length");
    offset += k * counts[r];
  }
}

}  // namespace

void FactorCollectives::allgather(MPI_Comm comm, const DenseMatrix& slice, const std::vector<index_t>& counts,
                                  DenseMatrix& out) {
  const index_t k = slice.rows();
  const index_t total = std::accumulate(counts.begin(), counts.end(), index_t{0});
  std::vector<int> sizes, displs;
  slice_counts(k, counts, sizes, displs);
  out.resize(k, total);
  NMF_MPI_CHECK(MPI_Allgatherv(slice.data(), mpi_count(slice.size(), "factor slice length"), MPI_DOUBLE, out.data(),
                               sizes.data(), displs.data(), MPI_DOUBLE, comm));
  bytes_ += 8.0 * static_cast<double>(k * total - slice.size());
}

void FactorCollectives::reduce_scatter(MPI_Comm comm, DenseMatrix& full, const std::vector<index_t>& counts,
                                       DenseMatrix& slice) {
  const index_t k = full.rows();
  if (counts.size() == 1) {
    std::swap(full, slice);
    return;
  }
  std::vector<int> sizes, displs;
  slice_counts(k, counts, sizes, displs);
  slice.resize(k, counts[static_cast<std::size_t>(rank_in(comm))]);
  NMF_MPI_CHECK(MPI_Reduce_scatter(full.data(), slice.data(), sizes.data(), MPI_DOUBLE, MPI_SUM, comm));
  bytes_ += 8.0 * static_cast<double>(full.size() - slice.size());
}

void FactorCollectives::allreduce_sum(MPI_Comm comm, std::vector<double>& values) {
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data(), mpi_count(static_cast<index_t>(values.size()), "values"),
                              MPI_DOUBLE, MPI_SUM, comm));
  bytes_ += 8.0 * 2.0 * (ranks - 1) / ranks * static_cast<double>(values.size());
}

void FactorCollectives::allreduce_average(MPI_Comm comm, DenseMatrix& values) {
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  if (ranks == 1) return;
  NMF_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, values.data(), mpi_count(values.size(), "values"), MPI_DOUBLE, MPI_SUM, comm));
  const double scale = 1.0 / ranks;
  for (double& v : values.values()) v *= scale;
  bytes_ += 8.0 * 2.0 * (ranks - 1) / ranks * static_cast<double>(values.size());
}

}  // namespace nmf
