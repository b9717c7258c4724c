#include "nmf/distribution/exchange.hpp"

#include <cstddef>
#include <numeric>

#include "nmf/huge_pages.hpp"

namespace nmf {

namespace {
MPI_Datatype make_triplet_datatype() {
  int lengths[3] = {1, 1, 1};
  MPI_Aint displacements[3] = {offsetof(Triplet, row), offsetof(Triplet, col), offsetof(Triplet, value)};
  MPI_Datatype types[3] = {MPI_INT64_T, MPI_INT64_T, MPI_DOUBLE};
  MPI_Datatype raw = MPI_DATATYPE_NULL, resized = MPI_DATATYPE_NULL;
  NMF_MPI_CHECK(MPI_Type_create_struct(3, lengths, displacements, types, &raw));
  NMF_MPI_CHECK(MPI_Type_create_resized(raw, 0, sizeof(Triplet), &resized));
  NMF_MPI_CHECK(MPI_Type_free(&raw));
  NMF_MPI_CHECK(MPI_Type_commit(&resized));
  return resized;
}
}  // namespace

const Datatype& triplet_datatype() {
  static const Datatype type(make_triplet_datatype());
  return type;
}

std::vector<Triplet> route_to_owners(MPI_Comm comm, std::vector<Triplet>& outgoing,
                                     const std::function<int(const Triplet&)>& owner) {
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  if (ranks == 1) {  // every entry is this rank's own: no copy, no message
    std::vector<Triplet> mine;
    mine.swap(outgoing);
    return mine;
  }

  // Counting sort of the outgoing triplets by destination.
  std::vector<int> destination(outgoing.size());
  std::vector<index_t> send_counts(static_cast<std::size_t>(ranks), 0);
  for (std::size_t e = 0; e < outgoing.size(); ++e) {
    destination[e] = owner(outgoing[e]);
    ++send_counts[static_cast<std::size_t>(destination[e])];
  }
  std::vector<int> send_counts_int(static_cast<std::size_t>(ranks)), send_displs(static_cast<std::size_t>(ranks));
  index_t offset = 0;
  for (int r = 0; r < ranks; ++r) {
    send_counts_int[r] = mpi_count(send_counts[r], "entries sent to one rank");
    send_displs[r] = mpi_count(offset, "send displacement");
    offset += send_counts[r];
  }
  std::vector<Triplet> send_buffer;
  reserve_huge(send_buffer, outgoing.size());
  send_buffer.resize(outgoing.size());
  {
    std::vector<index_t> next(send_displs.begin(), send_displs.end());
    for (std::size_t e = 0; e < outgoing.size(); ++e) send_buffer[next[destination[e]]++] = outgoing[e];
  }
  std::vector<Triplet>().swap(outgoing);
  std::vector<int>().swap(destination);

  std::vector<int> recv_counts(static_cast<std::size_t>(ranks)), recv_displs(static_cast<std::size_t>(ranks));
  NMF_MPI_CHECK(MPI_Alltoall(send_counts_int.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, comm));
  const index_t incoming = std::accumulate(recv_counts.begin(), recv_counts.end(), index_t{0});
  index_t recv_offset = 0;
  for (int r = 0; r < ranks; ++r) {
    recv_displs[r] = mpi_count(recv_offset, "receive displacement");
    recv_offset += recv_counts[r];
  }
  std::vector<Triplet> received;
  reserve_huge(received, static_cast<std::size_t>(incoming));
  received.resize(static_cast<std::size_t>(incoming));
  NMF_MPI_CHECK(MPI_Alltoallv(send_buffer.data(), send_counts_int.data(), send_displs.data(), triplet_datatype().get(),
                              received.data(), recv_counts.data(), recv_displs.data(), triplet_datatype().get(), comm));
  return received;
}

}  // namespace nmf
