// The factor collectives split a call whose counts would exceed MPI's int into several (nmf::testing::
// set_max_collective_count makes the limit small, so the splitting runs on small matrices): every result must
// equal the one-call result, on uneven slices (some empty) and on 1, 2 and 4 ranks. The variable-count collectives
// (nmf::alltoallv, nmf::allgatherv, and route_records on them) likewise, including a split that only one rank's
// counts call for: the others must take the split path with it (agreed plan), or the exchange would not match.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <tuple>

#include "nmf/distribution/collectives.hpp"
#include "nmf/distribution/exchange.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

// Restores the default limit when a test ends, even a failed one.
struct CountLimit {
  explicit CountLimit(index_t limit) { testing::set_max_collective_count(limit); }
  ~CountLimit() { testing::set_max_collective_count(0); }
};

// Columns per rank: uneven, and rank 1 (if any) has none.
std::vector<index_t> uneven_counts(int ranks) {
  std::vector<index_t> counts;
  for (int r = 0; r < ranks; ++r) counts.push_back(r == 1 ? 0 : 3 + 2 * r);
  return counts;
}

// Entry (q, c) of rank r's slice: integers, so sums are exact in any order.
double slice_value(int r, index_t q, index_t c) {
  return static_cast<double>(1000 * r + 10 * c + q);
}

TEST(CollectiveSplitting, AllGatherMatchesOneCall) {
  const int ranks = world_size(), me = world_rank();
  const index_t k = 3;
  const std::vector<index_t> counts = uneven_counts(ranks);
  DenseMatrix slice(k, counts[static_cast<std::size_t>(me)]);
  for (index_t c = 0; c < slice.cols(); ++c)
    for (index_t q = 0; q < k; ++q) slice(q, c) = slice_value(me, q, c);
  FactorCollectives reference_collectives;
  DenseMatrix reference;
  reference_collectives.allgather(MPI_COMM_WORLD, slice, counts, reference);
  for (const index_t limit : {1, 2, 5, 7, 16, 1000}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    CountLimit small(limit);
    FactorCollectives collectives;
    DenseMatrix out;
    collectives.allgather(MPI_COMM_WORLD, slice, counts, out);
    EXPECT_EQ(out.rows(), k);
    EXPECT_EQ(out.values(), reference.values());
    EXPECT_EQ(collectives.bytes_moved(), reference_collectives.bytes_moved());
  }
  // The reference is the concatenation of every rank's slice.
  index_t column = 0;
  for (int r = 0; r < ranks; ++r)
    for (index_t c = 0; c < counts[static_cast<std::size_t>(r)]; ++c, ++column)
      for (index_t q = 0; q < k; ++q) EXPECT_EQ(reference(q, column), slice_value(r, q, c));
}

TEST(CollectiveSplitting, ReduceScatterMatchesOneCall) {
  const int ranks = world_size(), me = world_rank();
  const index_t k = 4;
  const std::vector<index_t> counts = uneven_counts(ranks);
  const index_t total = std::accumulate(counts.begin(), counts.end(), index_t{0});
  const auto full_of_rank = [&](int r) {
    DenseMatrix full(k, total);
    for (index_t c = 0; c < total; ++c)
      for (index_t q = 0; q < k; ++q) full(q, c) = slice_value(r, q, c);
    return full;
  };
  // What every rank's slice must hold: the sum over ranks of its columns.
  index_t first = 0;
  for (int r = 0; r < me; ++r) first += counts[static_cast<std::size_t>(r)];
  DenseMatrix expected(k, counts[static_cast<std::size_t>(me)]);
  for (int r = 0; r < ranks; ++r) {
    const DenseMatrix full = full_of_rank(r);
    for (index_t c = 0; c < expected.cols(); ++c)
      for (index_t q = 0; q < k; ++q) expected(q, c) += full(q, first + c);
  }
  for (const index_t limit : {0, 1, 3, 7, 16, 1000}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    CountLimit small(limit);
    FactorCollectives collectives;
    DenseMatrix full = full_of_rank(me), slice;
    collectives.reduce_scatter(MPI_COMM_WORLD, full, counts, slice);
    EXPECT_EQ(slice.rows(), k);
    EXPECT_EQ(slice.values(), expected.values());
  }
}

TEST(CollectiveSplitting, AllReducesMatchOneCall) {
  const int ranks = world_size(), me = world_rank();
  std::vector<double> expected(23);
  for (std::size_t i = 0; i < expected.size(); ++i)
    for (int r = 0; r < ranks; ++r) expected[i] += slice_value(r, 0, static_cast<index_t>(i));
  for (const index_t limit : {0, 1, 4, 22, 23}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    CountLimit small(limit);
    FactorCollectives collectives;
    std::vector<double> values(expected.size());
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = slice_value(me, 0, static_cast<index_t>(i));
    collectives.allreduce_sum(MPI_COMM_WORLD, values);
    EXPECT_EQ(values, expected);
    DenseMatrix block(1, static_cast<index_t>(expected.size()));
    for (std::size_t i = 0; i < values.size(); ++i) block.values()[i] = ranks * slice_value(me, 0, 0) + 2.0 * i;
    collectives.allreduce_average(MPI_COMM_WORLD, block);
    double rank_sum = 0;
    for (int r = 0; r < ranks; ++r) rank_sum += slice_value(r, 0, 0);
    for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(block.values()[i], rank_sum + 2.0 * i);
  }
}

// The records rank `from` sends rank `to` in the variable-count tests: uneven lengths, some empty.
index_t block_length(int from, int to) {
  return (3 * from + 5 * to + 1) % 7;
}
Triplet block_record(int from, int to, index_t i) {
  return Triplet{from, 100 * to + i, 0.5 * static_cast<double>(from - to) + static_cast<double>(i)};
}
bool same_record(const Triplet& a, const Triplet& b) {
  return a.row == b.row && a.col == b.col && a.value == b.value;
}

// Blocks in reverse rank order with a gap of two unused records after each: displacements not laid end to end.
std::vector<index_t> reversed_gapped_displs(const std::vector<index_t>& counts, index_t& total) {
  std::vector<index_t> displs(counts.size());
  total = 0;
  for (std::size_t r = counts.size(); r-- > 0;) {
    displs[r] = total;
    total += counts[r] + 2;
  }
  return displs;
}

// Every rank sends block_length(me, d) records to rank d and checks, record by record, what arrives from each
// rank; `lengths` overrides the lengths (lengths(from, to)).
template <class Lengths>
void check_alltoallv(Lengths lengths) {
  const int ranks = world_size(), me = world_rank();
  std::vector<index_t> send_counts(ranks), recv_counts(ranks);
  for (int r = 0; r < ranks; ++r) {
    send_counts[r] = lengths(me, r);
    recv_counts[r] = lengths(r, me);
  }
  index_t send_total = 0, recv_total = 0;
  const std::vector<index_t> send_displs = reversed_gapped_displs(send_counts, send_total);
  const std::vector<index_t> recv_displs = reversed_gapped_displs(recv_counts, recv_total);
  std::vector<Triplet> send(static_cast<std::size_t>(send_total), Triplet{-1, -1, -1.0});
  for (int d = 0; d < ranks; ++d)
    for (index_t i = 0; i < send_counts[d]; ++i) send[send_displs[d] + i] = block_record(me, d, i);
  const Triplet unused{-7, -7, -7.0};
  std::vector<Triplet> recv(static_cast<std::size_t>(recv_total), unused);
  alltoallv(MPI_COMM_WORLD, send.data(), send_counts, send_displs, recv.data(), recv_counts, recv_displs,
            triplet_datatype().get());
  for (int r = 0; r < ranks; ++r) {
    for (index_t i = 0; i < recv_counts[r]; ++i)
      EXPECT_TRUE(same_record(recv[recv_displs[r] + i], block_record(r, me, i))) << "from rank " << r << ", " << i;
    for (index_t gap = 0; gap < 2; ++gap)  // nothing written past a block
      EXPECT_TRUE(same_record(recv[recv_displs[r] + recv_counts[r] + gap], unused)) << "after rank " << r;
  }
}

TEST(CollectiveSplitting, AllToAllVDeliversEveryRecord) {
  for (const index_t limit : {0, 1, 2, 3, 5, 7, 16, 1000}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    CountLimit small(limit);
    check_alltoallv(block_length);
  }
}

TEST(CollectiveSplitting, AllToAllVSplitsOnEveryRankWhenOneRankNeedsIt) {
  // Only the last rank's counts pass the limit (a long block to itself); every other count and displacement fits.
  const int last = world_size() - 1;
  const index_t limit = 8;
  CountLimit small(limit);
  check_alltoallv([&](int from, int to) { return from == last && to == last ? 3 * limit + 1 : index_t{1}; });
}

TEST(CollectiveSplitting, AllGatherVDeliversEveryRecord) {
  const int ranks = world_size(), me = world_rank();
  std::vector<index_t> counts(ranks);
  for (int r = 0; r < ranks; ++r) counts[r] = block_length(r, r) + (r == ranks - 1 ? 9 : 0);
  index_t total = 0;
  const std::vector<index_t> displs = reversed_gapped_displs(counts, total);
  for (const index_t limit : {0, 1, 2, 5, 8, 1000}) {
    for (const bool in_place : {false, true}) {
      SCOPED_TRACE("limit " + std::to_string(limit) + (in_place ? ", in place" : ""));
      CountLimit small(limit);
      std::vector<Triplet> mine;
      for (index_t i = 0; i < counts[me]; ++i) mine.push_back(block_record(me, me, i));
      const Triplet unused{-7, -7, -7.0};
      std::vector<Triplet> all(static_cast<std::size_t>(total), unused);
      if (in_place) std::copy(mine.begin(), mine.end(), all.begin() + displs[me]);
      allgatherv(MPI_COMM_WORLD, in_place ? MPI_IN_PLACE : mine.data(), all.data(), counts, displs,
                 triplet_datatype().get());
      for (int r = 0; r < ranks; ++r) {
        for (index_t i = 0; i < counts[r]; ++i)
          EXPECT_TRUE(same_record(all[displs[r] + i], block_record(r, r, i))) << "from rank " << r << ", " << i;
        EXPECT_TRUE(same_record(all[displs[r] + counts[r]], unused)) << "after rank " << r;
      }
    }
  }
}

TEST(CollectiveSplitting, RouteRecordsDeliversEveryRecord) {
  const int ranks = world_size(), me = world_rank();
  const auto owner = [ranks](const Triplet& t) { return static_cast<int>(t.col % ranks); };
  const auto sorted = [](std::vector<Triplet> v) {
    std::sort(v.begin(), v.end(),
              [](const Triplet& a, const Triplet& b) { return std::tie(a.row, a.col) < std::tie(b.row, b.col); });
    return v;
  };
  std::vector<Triplet> expected;  // what every rank sends this rank
  for (int r = 0; r < ranks; ++r)
    for (index_t c = 0; c < 40 + 3 * r; ++c)
      if (owner(Triplet{r, c, 0.0}) == me) expected.push_back(Triplet{r, c, 0.25 * static_cast<double>(r + c)});
  for (const index_t limit : {0, 1, 3, 10, 1000}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    CountLimit small(limit);
    std::vector<Triplet> outgoing;
    for (index_t c = 0; c < 40 + 3 * me; ++c) outgoing.push_back(Triplet{me, c, 0.25 * static_cast<double>(me + c)});
    const std::vector<Triplet> received =
        sorted(route_records(MPI_COMM_WORLD, outgoing, owner, triplet_datatype().get()));
    ASSERT_EQ(received.size(), expected.size());
    for (std::size_t e = 0; e < expected.size(); ++e) EXPECT_TRUE(same_record(received[e], expected[e])) << e;
  }
}

}  // namespace
}  // namespace nmf::test
