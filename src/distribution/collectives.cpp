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

}  // namespace

namespace testing {
index_t set_max_collective_count(index_t count) {
  const index_t previous = max_count();
  max_count() = count > 0 ? std::min<index_t>(count, INT_MAX) : INT_MAX;
  return previous;
}
}  // namespace testing

namespace {

// Bytes from one element of `type` to the next.
std::size_t extent_of(MPI_Datatype type) {
  MPI_Aint lower = 0, extent = 0;
  NMF_MPI_CHECK(MPI_Type_get_extent(type, &lower, &extent));
  NMF_REQUIRE(lower == 0 && extent > 0, Error, "variable-count collective: the datatype must have lower bound 0");
  return static_cast<std::size_t>(extent);
}

bool all_fit(const std::vector<index_t>& counts, const std::vector<index_t>& displs) {
  for (std::size_t r = 0; r < counts.size(); ++r)
    if (counts[r] > max_count() || displs[r] > max_count()) return false;
  return true;
}

index_t largest_of(const std::vector<index_t>& a, const std::vector<index_t>& b) {
  index_t largest = 0;
  for (std::size_t r = 0; r < a.size(); ++r) largest = std::max({largest, a[r], b[r]});
  return largest;
}

// Checked by all_fit or by the agreement before the narrowing.
std::vector<int> as_ints(const std::vector<index_t>& values) {
  return std::vector<int>(values.begin(), values.end());
}

// The split path's rounds: in round t every block sends its elements [t L, (t + 1) L), so one round's blocks of
// all ranks (and so every count and displacement) stay under max_count and kSplitRoundBytes.
struct ElementRounds {
  index_t piece = 0;  // L
  index_t count = 0;  // rounds
  ElementRounds(int ranks, std::size_t extent, index_t longest) {
    const index_t per_round =
        std::min(max_count(), std::max<index_t>(1, kSplitRoundBytes / static_cast<index_t>(extent)));
    piece = std::max<index_t>(1, per_round / ranks);
    count = (longest + piece - 1) / piece;
  }
  // Elements of a block of `length` in round t.
  index_t part(index_t length, index_t t) const { return std::clamp<index_t>(length - t * piece, 0, piece); }
  // Round t's parts of blocks of `lengths`, laid end to end; returns their total.
  index_t parts(const std::vector<index_t>& lengths, index_t t, std::vector<int>& sizes,
                std::vector<int>& displs) const {
    sizes.resize(lengths.size());
    displs.resize(lengths.size());
    index_t offset = 0;
    for (std::size_t r = 0; r < lengths.size(); ++r) {
      sizes[r] = static_cast<int>(part(lengths[r], t));
      displs[r] = static_cast<int>(offset);
      offset += sizes[r];
    }
    return offset;
  }
};

// Copies `count` elements of `extent` bytes.
void copy_elements(const void* from, void* to, index_t count, std::size_t extent) {
  if (count > 0) std::memcpy(to, from, static_cast<std::size_t>(count) * extent);
}

const char* element_at(const void* base, index_t index, std::size_t extent) {
  return static_cast<const char*>(base) + static_cast<std::size_t>(index) * extent;
}
char* element_at(void* base, index_t index, std::size_t extent) {
  return static_cast<char*>(base) + static_cast<std::size_t>(index) * extent;
}

}  // namespace

std::vector<index_t> packed_displacements(const std::vector<index_t>& counts) {
  std::vector<index_t> displs(counts.size(), 0);
  for (std::size_t r = 1; r < counts.size(); ++r) displs[r] = displs[r - 1] + counts[r - 1];
  return displs;
}

std::vector<index_t> exchange_counts(MPI_Comm comm, const std::vector<index_t>& send_counts) {
  std::vector<index_t> recv_counts(send_counts.size());
  NMF_MPI_CHECK(MPI_Alltoall(send_counts.data(), 1, MPI_INT64_T, recv_counts.data(), 1, MPI_INT64_T, comm));
  return recv_counts;
}

void alltoallv(MPI_Comm comm, const void* send, const std::vector<index_t>& send_counts,
               const std::vector<index_t>& send_displs, void* recv, const std::vector<index_t>& recv_counts,
               const std::vector<index_t>& recv_displs, MPI_Datatype type) {
  const std::size_t extent = extent_of(type);
  const int ranks = size_of(comm);
  if (ranks == 1) {  // the block to oneself: a copy, of any length
    NMF_REQUIRE(send_counts[0] == recv_counts[0], Error, "alltoallv: one rank sends and receives different counts");
    copy_elements(element_at(send, send_displs[0], extent), element_at(recv, recv_displs[0], extent), send_counts[0],
                  extent);
    return;
  }
  // The plan, agreed: the largest count or displacement of any rank, and the longest block (every received block is
  // some rank's sent block).
  const index_t local[2] = {std::max(largest_of(send_counts, send_displs), largest_of(recv_counts, recv_displs)),
                            *std::max_element(send_counts.begin(), send_counts.end())};
  index_t global[2] = {0, 0};
  NMF_MPI_CHECK(MPI_Allreduce(local, global, 2, MPI_INT64_T, MPI_MAX, comm));
  if (global[0] <= max_count()) {
    NMF_MPI_CHECK(MPI_Alltoallv(send, as_ints(send_counts).data(), as_ints(send_displs).data(), type, recv,
                                as_ints(recv_counts).data(), as_ints(recv_displs).data(), type, comm));
    return;
  }
  const ElementRounds rounds(ranks, extent, global[1]);
  std::vector<int> sc, sd, rc, rd;
  std::vector<char> send_buffer, recv_buffer;
  for (index_t t = 0; t < rounds.count; ++t) {
    send_buffer.resize(static_cast<std::size_t>(rounds.parts(send_counts, t, sc, sd)) * extent);
    recv_buffer.resize(static_cast<std::size_t>(rounds.parts(recv_counts, t, rc, rd)) * extent);
    for (int r = 0; r < ranks; ++r)
      copy_elements(element_at(send, send_displs[r] + t * rounds.piece, extent),
                    element_at(send_buffer.data(), sd[r], extent), sc[r], extent);
    NMF_MPI_CHECK(MPI_Alltoallv(send_buffer.data(), sc.data(), sd.data(), type, recv_buffer.data(), rc.data(),
                                rd.data(), type, comm));
    for (int r = 0; r < ranks; ++r)
      copy_elements(element_at(recv_buffer.data(), rd[r], extent),
                    element_at(recv, recv_displs[r] + t * rounds.piece, extent), rc[r], extent);
  }
}

void allgatherv(MPI_Comm comm, const void* send, void* recv, const std::vector<index_t>& counts,
                const std::vector<index_t>& displs, MPI_Datatype type) {
  const std::size_t extent = extent_of(type);
  const int ranks = size_of(comm), me = rank_in(comm);
  const bool in_place = send == MPI_IN_PLACE;
  const char* mine = in_place ? element_at(recv, displs[me], extent) : static_cast<const char*>(send);
  if (ranks == 1) {
    if (!in_place) copy_elements(mine, element_at(recv, displs[0], extent), counts[0], extent);
    return;
  }
  if (all_fit(counts, displs)) {
    NMF_MPI_CHECK(MPI_Allgatherv(send, in_place ? 0 : static_cast<int>(counts[me]), in_place ? MPI_DATATYPE_NULL : type,
                                 recv, as_ints(counts).data(), as_ints(displs).data(), type, comm));
    return;
  }
  const ElementRounds rounds(ranks, extent, *std::max_element(counts.begin(), counts.end()));
  std::vector<int> sizes, offsets;
  std::vector<char> buffer;
  for (index_t t = 0; t < rounds.count; ++t) {
    buffer.resize(static_cast<std::size_t>(rounds.parts(counts, t, sizes, offsets)) * extent);
    const index_t start = std::min(t * rounds.piece, counts[me]);
    NMF_MPI_CHECK(MPI_Allgatherv(element_at(mine, start, extent), sizes[me], type, buffer.data(), sizes.data(),
                                 offsets.data(), type, comm));
    for (int r = 0; r < ranks; ++r)
      copy_elements(element_at(buffer.data(), offsets[r], extent),
                    element_at(recv, displs[r] + t * rounds.piece, extent), sizes[r], extent);
  }
}

void FactorCollectives::allgather(MPI_Comm comm, const DenseMatrix& slice, const std::vector<index_t>& counts,
                                  DenseMatrix& out) {
  const index_t k = slice.rows();
  std::vector<index_t> elements(counts.size());
  for (std::size_t r = 0; r < counts.size(); ++r) elements[r] = k * counts[r];
  const std::vector<index_t> displs = packed_displacements(elements);
  out.resize(k, std::accumulate(counts.begin(), counts.end(), index_t{0}));
  bytes_ += 8.0 * static_cast<double>(out.size() - slice.size());
  allgatherv(comm, slice.data(), out.data(), elements, displs, MPI_DOUBLE);
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
  // max_count elements and kSplitRoundBytes and reduce-scattered into part t of this rank's slice.
  const ElementRounds rounds(static_cast<int>(counts.size()), sizeof(double),
                             k * *std::max_element(counts.begin(), counts.end()));
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
