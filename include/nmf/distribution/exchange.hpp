// Moving matrix entries to the ranks that own them.
#pragma once

#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

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

// Collective over `comm`: sends every record of `outgoing` to rank owner(record) with one MPI_Alltoallv
// (each record one element of `type`) and returns the records this rank receives; `outgoing` is released.
// On one rank the records stay where they are: no copy, no message.
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
  std::vector<int> send_counts_int(static_cast<std::size_t>(ranks)), send_displs(static_cast<std::size_t>(ranks));
  index_t offset = 0;
  for (int r = 0; r < ranks; ++r) {
    send_counts_int[r] = mpi_count(send_counts[r], "records sent to one rank");
    send_displs[r] = mpi_count(offset, "send displacement");
    offset += send_counts[r];
  }
  std::vector<Record>& send_buffer = buffers.send;
  if (send_buffer.capacity() < outgoing.size()) {
    std::vector<Record>().swap(send_buffer);
    reserve_huge(send_buffer, outgoing.size());
  }
  send_buffer.resize(outgoing.size());
  {
    std::vector<index_t> next(send_displs.begin(), send_displs.end());
    for (std::size_t e = 0; e < outgoing.size(); ++e) send_buffer[next[destination[e]]++] = outgoing[e];
  }
  std::vector<Record>().swap(outgoing);

  std::vector<int> recv_counts(static_cast<std::size_t>(ranks)), recv_displs(static_cast<std::size_t>(ranks));
  NMF_MPI_CHECK(MPI_Alltoall(send_counts_int.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, comm));
  const index_t incoming = std::accumulate(recv_counts.begin(), recv_counts.end(), index_t{0});
  index_t recv_offset = 0;
  for (int r = 0; r < ranks; ++r) {
    recv_displs[r] = mpi_count(recv_offset, "receive displacement");
    recv_offset += recv_counts[r];
  }
  std::vector<Record> received;
  reserve_huge(received, static_cast<std::size_t>(incoming));
  received.resize(static_cast<std::size_t>(incoming));
  NMF_MPI_CHECK(MPI_Alltoallv(send_buffer.data(), send_counts_int.data(), send_displs.data(), type, received.data(),
                              recv_counts.data(), recv_displs.data(), type, comm));
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
