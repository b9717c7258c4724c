#include "nmf/distribution/collectives.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <numeric>

namespace nmf {

namespace {

// The largest count or displacement one MPI call is handed. Open MPI 4.1 implements MPI 3.1, whose counts are
// int and which has no large-count (_c) calls, so larger collectives are split into calls under it.
index_t& max_count() {
  static index_t limit = INT_MAX;
  return limit;
}

// MPI counts and displacements (in doubles) of k x counts[r] slices laid end to end, or false if one of them
// does not fit in a single call.
bool slice_counts(index_t k, const std::vector<index_t>& counts, std::vector<int>& sizes, std::vector<int>& displs) {
  sizes.resize(counts.size());
  displs.resize(counts.size());
  index_t offset = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    if (k * counts[r] > max_count() || offset > max_count()) return false;
    sizes[r] = static_cast<int>(k * counts[r]);
    displs[r] = static_cast<int>(offset);
    offset += k * counts[r];
  }
  return true;
}

// Splitting: in round t each rank's part is elements [t L, (t + 1) L) of its slice, with L = max_count / ranks,
// so the parts of all ranks together (and every displacement) fit in one call.
struct Rounds {
  index_t piece = 0;  // L
  index_t count = 0;  // rounds
  Rounds(index_t k, const std::vector<index_t>& counts) {
    piece = std::max<index_t>(1, max_count() / static_cast<index_t>(counts.size()));
    const index_t longest = k * *std::max_element(counts.begin(), counts.end());
    count = (longest + piece - 1) / piece;
  }
  // Elements of a slice of `length` in round t.
  index_t part(index_t length, index_t t) const { return std::clamp<index_t>(length - t * piece, 0, piece); }
};

}  // namespace

namespace testing {
index_t set_max_collective_count(index_t count) {
  const index_t previous = max_count();
  max_count() = count > 0 ? std::min<index_t>(count, INT_MAX) : INT_MAX;
  return previous;
}
}  // namespace testing

void FactorCollectives::allgather(MPI_Comm comm, const DenseMatrix& slice, const std::vector<index_t>& counts,
                                  DenseMatrix& out) {
  const index_t k = slice.rows();
  const index_t total = std::accumulate(counts.begin(), counts.end(), index_t{0});
  std::vector<int> sizes, displs;
  out.resize(k, total);
  bytes_ += 8.0 * static_cast<double>(k * total - slice.size());
  if (slice_counts(k, counts, sizes, displs)) {
    NMF_MPI_CHECK(MPI_Allgatherv(slice.data(), static_cast<int>(slice.size()), MPI_DOUBLE, out.data(), sizes.data(),
                                 displs.data(), MPI_DOUBLE, comm));
    return;
  }
  // Too large for one call: rounds of at most L elements per rank through a buffer of at most max_count.
  const Rounds rounds(k, counts);
  const int me = rank_in(comm);
  std::vector<double> buffer;
  for (index_t t = 0; t < rounds.count; ++t) {
    index_t offset = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      sizes[r] = static_cast<int>(rounds.part(k * counts[r], t));
      displs[r] = static_cast<int>(offset);
      offset += sizes[r];
    }
    buffer.resize(static_cast<std::size_t>(offset));
    NMF_MPI_CHECK(MPI_Allgatherv(slice.data() + std::min(t * rounds.piece, slice.size()),
                                 sizes[static_cast<std::size_t>(me)], MPI_DOUBLE, buffer.data(), sizes.data(),
                                 displs.data(), MPI_DOUBLE, comm));
    index_t destination = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      if (sizes[r] > 0) std::copy_n(buffer.data() + displs[r], sizes[r], out.data() + destination + t * rounds.piece);
      destination += k * counts[r];
    }
  }
}

void FactorCollectives::reduce_scatter(MPI_Comm comm, DenseMatrix& full, const std::vector<index_t>& counts,
                                       DenseMatrix& slice) {
  const index_t k = full.rows();
  if (counts.size() == 1) {
    std::swap(full, slice);
    return;
  }
  const int me = rank_in(comm);
  std::vector<int> sizes, displs;
  slice.resize(k, counts[static_cast<std::size_t>(me)]);
  bytes_ += 8.0 * static_cast<double>(full.size() - slice.size());
  if (slice_counts(k, counts, sizes, displs)) {
    NMF_MPI_CHECK(MPI_Reduce_scatter(full.data(), slice.data(), sizes.data(), MPI_DOUBLE, MPI_SUM, comm));
    return;
  }
  // Too large for one call: in round t, part t of every rank's columns is packed into a buffer of at most
  // max_count elements and reduce-scattered into part t of this rank's slice.
  const Rounds rounds(k, counts);
  std::vector<double> buffer;
  for (index_t t = 0; t < rounds.count; ++t) {
    buffer.clear();
    index_t source = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      sizes[r] = static_cast<int>(rounds.part(k * counts[r], t));
      if (sizes[r] > 0)
        buffer.insert(buffer.end(), full.data() + source + t * rounds.piece,
                      full.data() + source + t * rounds.piece + sizes[r]);
      source += k * counts[r];
    }
    NMF_MPI_CHECK(MPI_Reduce_scatter(buffer.data(), slice.data() + std::min(t * rounds.piece, slice.size()),
                                     sizes.data(), MPI_DOUBLE, MPI_SUM, comm));
  }
}

namespace {
// In-place sum over `comm` in calls of at most max_count elements.
void allreduce_in_pieces(MPI_Comm comm, double* values, index_t count) {
  for (index_t first = 0; first < count; first += max_count()) {
    const auto n = static_cast<int>(std::min(max_count(), count - first));
    NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values + first, n, MPI_DOUBLE, MPI_SUM, comm));
  }
}
}  // namespace

void FactorCollectives::allreduce_sum(MPI_Comm comm, std::vector<double>& values) {
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  allreduce_in_pieces(comm, values.data(), static_cast<index_t>(values.size()));
  bytes_ += 8.0 * 2.0 * (ranks - 1) / ranks * static_cast<double>(values.size());
}

void FactorCollectives::allreduce_average(MPI_Comm comm, DenseMatrix& values) {
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  if (ranks == 1) return;
  allreduce_in_pieces(comm, values.data(), values.size());
  const double scale = 1.0 / ranks;
  for (double& v : values.values()) v *= scale;
  bytes_ += 8.0 * 2.0 * (ranks - 1) / ranks * static_cast<double>(values.size());
}

void FactorCollectives::count_agreement(MPI_Comm comm) {
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  bytes_ += 2.0 * (ranks - 1) / ranks * static_cast<double>(kAgreementBytes);
}

}  // namespace nmf
