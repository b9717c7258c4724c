// Moving matrix entries to the ranks that own them.
#pragma once

#include <type_traits>
#include <utility>
#include <vector>

#include "nmf/distribution/collectives.hpp"
#include "nmf/huge_pages.hpp"
#include "nmf/matrix.hpp"
#include "nmf/mpi.hpp"

namespace nmf {

// The send side of route_records, kept from one call to the next by a caller that routes a file block by
// block: fresh memory costs a page fault per page on first touch (much of a read's time on a VM), and a
// buffer that lives across the rounds pays it once.
template <class Record>
struct RouteBuffers {
  std::vector<int> destination;  // owner of each outgoing record
  std::vector<Record> send;      // the outgoing records grouped by owner
};

// Collective over `comm`: sends every record of `outgoing` to rank owner(record) with nmf::alltoallv
// (each record one element of `type`; counts past MPI's int are split into rounds, nmf/distribution/collectives.hpp)
// and returns the records this rank receives; `outgoing` is released. On one rank the records stay where they are: no
// copy, no message.
template <class Record, class Owner>
std::vector<Record> route_records(MPI_Comm comm, std::vector<Record>& outgoing, Owner&& owner, MPI_Datatype type,
                                  RouteBuffers<Record>& buffers) {
  static_assert(std::is_trivially_copyable_v<Record>, "records travel as bytes");
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  if (ranks == 1) {
    std::vector<Record> mine;
    mine.swap(outgoing);
    return mine;
  }

  // Counting sort of the outgoing records by destination.
  std::vector<int>& destination = buffers.destination;
  destination.resize(outgoing.size());
  std::vector<index_t> send_counts(static_cast<std::size_t>(ranks), 0);
  for (std::size_t e = 0; e < outgoing.size(); ++e) {
    destination[e] = owner(outgoing[e]);
    ++send_counts[static_cast<std::size_t>(destination[e])];
  }
  const std::vector<index_t> send_displs = packed_displacements(send_counts);
  std::vector<Record>& send_buffer = buffers.send;
  if (send_buffer.capacity() < outgoing.size()) {
    std::vector<Record>().swap(send_buffer);
    reserve_huge(send_buffer, outgoing.size());
  }
  send_buffer.resize(outgoing.size());
  {
    std::vector<index_t> next(send_displs);
    for (std::size_t e = 0; e < outgoing.size(); ++e) send_buffer[next[destination[e]]++] = outgoing[e];
  }
  std::vector<Record>().swap(outgoing);

  const std::vector<index_t> recv_counts = exchange_counts(comm, send_counts);
  const std::vector<index_t> recv_displs = packed_displacements(recv_counts);
  const auto incoming = static_cast<std::size_t>(recv_displs.back() + recv_counts.back());
  std::vector<Record> received;
  reserve_huge(received, incoming);
  received.resize(incoming);
  alltoallv(comm, send_buffer.data(), send_counts, send_displs, received.data(), recv_counts, recv_displs, type);
  return received;
}

// The same with buffers of its own, for a single call.
template <class Record, class Owner>
std::vector<Record> route_records(MPI_Comm comm, std::vector<Record>& outgoing, Owner&& owner, MPI_Datatype type) {
  RouteBuffers<Record> buffers;
  return route_records(comm, outgoing, std::forward<Owner>(owner), type, buffers);
}

// MPI datatype of Triplet (two int64 and a double), committed once per call site's lifetime. The Matrix
// Market reader routes triplets with it one block of the file per call, so the send buffer stays bounded,
// and keeps what it receives as a list of chunks, so it never needs one growing array.
const Datatype& triplet_datatype();

}  // namespace nmf
