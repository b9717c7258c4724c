// The factor collectives split a call whose counts would exceed MPI's int into several (nmf::testing::
// set_max_collective_count makes the limit small, so the splitting runs on small matrices): every result must
// equal the one-call result, on uneven slices (some empty) and on 1, 2 and 4 ranks.
#include <gtest/gtest.h>

#include <numeric>

#include "nmf/distribution/collectives.hpp"
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

}  // namespace
}  // namespace nmf::test
