// Moving matrix entries to the ranks that own them.
#pragma once

#include <functional>
#include <type_traits>
#include <vector>

#include "nmf/distribution/collectives.hpp"
#include "nmf/huge_pages.hpp"
#include "nmf/matrix.hpp"
#include "nmf/mpi.hpp"

namespace nmf {

// Collective over `comm`: sends every record of `outgoing` to rank owner(record) with nmf::alltoallv
// (each record one element of `type`; counts past MPI's int are split into rounds, nmf/distribution/collectives.hpp)
// and returns the records this rank receives; `outgoing` is released. On one rank the records stay where they are: no
// copy, no message.
template <class Record, class Owner>
std::vector<Record> route_records(MPI_Comm comm, std::vector<Record>& outgoing, Owner&& owner, MPI_Datatype type) {
  static_assert(std::is_trivially_copyable_v<Record>, "records travel as bytes");
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  if (ranks == 1) {
    std::vector<Record> mine;
    mine.swap(outgoing);
    return mine;
  }

  // Counting sort of the outgoing records by destination.
  std::vector<int> destination(outgoing.size());
  std::vector<index_t> send_counts(static_cast<std::size_t>(ranks), 0);
  for (std::size_t e = 0; e < outgoing.size(); ++e) {
    destination[e] = owner(outgoing[e]);
    ++send_counts[static_cast<std::size_t>(destination[e])];
  }
  const std::vector<index_t> send_displs = packed_displacements(send_counts);
  std::vector<Record> send_buffer;
  reserve_huge(send_buffer, outgoing.size());
  send_buffer.resize(outgoing.size());
  {
    std::vector<index_t> next(send_displs);
    for (std::size_t e = 0; e < outgoing.size(); ++e) send_buffer[next[destination[e]]++] = outgoing[e];
  }
  std::vector<Record>().swap(outgoing);
  std::vector<int>().swap(destination);

  const std::vector<index_t> recv_counts = exchange_counts(comm, send_counts);
  const std::vector<index_t> recv_displs = packed_displacements(recv_counts);
  const auto incoming = static_cast<std::size_t>(recv_displs.back() + recv_counts.back());
  std::vector<Record> received;
  reserve_huge(received, incoming);
  received.resize(incoming);
  alltoallv(comm, send_buffer.data(), send_counts, send_displs, received.data(), recv_counts, recv_displs, type);
  return received;
}

// MPI datatype of Triplet (two int64 and a double), committed once per call site's lifetime.
const Datatype& triplet_datatype();

// Collective over `comm`: sends every triplet of `outgoing` to rank owner(triplet) with route_records
// and returns the triplets this rank receives. `outgoing` is released. Callers bound
// `outgoing` (the parallel readers send one chunk of the file per call), so the send buffer stays bounded,
// and keep what they receive as a list of chunks, so it never needs one growing array.
std::vector<Triplet> route_to_owners(MPI_Comm comm, std::vector<Triplet>& outgoing,
                                     const std::function<int(const Triplet&)>& owner);

}  // namespace nmf
