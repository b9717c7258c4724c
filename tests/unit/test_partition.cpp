#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "nmf/error.hpp"
#include "nmf/partition.hpp"

namespace {

using nmf::BlockPartition;
using nmf::BucketMap;
using nmf::index_t;

// Contiguous, starts at 0, ends at total, sizes differ by at most one and are floor/ceil of total/parts.
void expect_even(const BlockPartition& p, index_t total, int parts) {
  ASSERT_EQ(p.parts(), parts);
  EXPECT_EQ(p.begin(0), 0);
  EXPECT_EQ(p.total(), total);
  const index_t low = total / parts;
  const index_t high = low + (total % parts != 0 ? 1 : 0);
  index_t sum = 0;
  for (int q = 0; q < parts; ++q) {
    if (q > 0) {
      EXPECT_EQ(p.begin(q), p.end(q - 1));
    }
    EXPECT_TRUE(p.size(q) == low || p.size(q) == high) << "part " << q << " size " << p.size(q);
    sum += p.size(q);
  }
  EXPECT_EQ(sum, total);
  EXPECT_EQ(p.max_size(), high);
}

TEST(BlockPartition, EvenSmallHandExample) {
  const BlockPartition p = BlockPartition::even(10, 3);
  EXPECT_EQ(p.offsets(), (std::vector<index_t>{0, 3, 6, 10}));
}

TEST(BlockPartition, EvenSizesDifferByAtMostOne) {
  for (index_t total = 0; total <= 60; ++total)
    for (int parts = 1; parts <= 9; ++parts) expect_even(BlockPartition::even(total, parts), total, parts);
}

TEST(BlockPartition, EvenHugeTotalsDoNotOverflow) {
  const index_t near62 = (index_t{1} << 62) + 12345;
  expect_even(BlockPartition::even(near62, 7), near62, 7);
  expect_even(BlockPartition::even(near62, 1000), near62, 1000);
  const index_t max = std::numeric_limits<index_t>::max();
  expect_even(BlockPartition::even(max, 3), max, 3);
}

TEST(BlockPartition, EvenRejectsBadArguments) {
  EXPECT_THROW(BlockPartition::even(10, 0), nmf::Error);
  EXPECT_THROW(BlockPartition::even(-1, 2), nmf::Error);
}

TEST(BlockPartition, ConstructorRejectsBadOffsets) {
  EXPECT_THROW(BlockPartition(std::vector<index_t>{}), nmf::Error);
  EXPECT_THROW(BlockPartition(std::vector<index_t>{1, 3}), nmf::Error);
  EXPECT_THROW(BlockPartition(std::vector<index_t>{0, 5, 3}), nmf::Error);
}

TEST(BlockPartition, DefaultIsEmpty) {
  const BlockPartition p;
  EXPECT_EQ(p.parts(), 0);
  EXPECT_EQ(p.total(), 0);
}

TEST(BlockPartition, OwnerSkipsEmptyParts) {
  const BlockPartition p(std::vector<index_t>{0, 2, 2, 5});
  EXPECT_EQ(p.owner(0), 0);
  EXPECT_EQ(p.owner(1), 0);
  EXPECT_EQ(p.owner(2), 2);
  EXPECT_EQ(p.owner(4), 2);
  const BlockPartition leading(std::vector<index_t>{0, 0, 0, 3, 3});
  EXPECT_EQ(leading.owner(0), 2);
  EXPECT_EQ(leading.owner(2), 2);
}

TEST(BlockPartition, OwnerContainsIndexForEveryPartition) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int parts = 1 + static_cast<int>(rng() % 8);
    std::vector<index_t> offsets(static_cast<std::size_t>(parts) + 1, 0);
    for (int q = 1; q <= parts; ++q)
      offsets[static_cast<std::size_t>(q)] = offsets[q - 1] + static_cast<index_t>(rng() % 4);
    const BlockPartition p(offsets);
    for (index_t i = 0; i < p.total(); ++i) {
      const int o = p.owner(i);
      ASSERT_GE(o, 0);
      ASSERT_LT(o, parts);
      EXPECT_LE(p.begin(o), i);
      EXPECT_LT(i, p.end(o));
    }
  }
}

TEST(BlockPartition, OwnerWithMorePartsThanIndices) {
  const BlockPartition p = BlockPartition::even(3, 7);
  for (index_t i = 0; i < 3; ++i) {
    const int o = p.owner(i);
    EXPECT_EQ(p.size(o), 1);
    EXPECT_EQ(p.begin(o), i);
  }
}

// ----- balanced ----------------------------------------------------------------------------------------------

index_t part_weight(const BlockPartition& p, int part, const BucketMap& map, const std::vector<index_t>& weights) {
  // Cuts fall on bucket boundaries, so the part is a whole number of buckets.
  const index_t first = map.bucket_of(p.begin(part));
  const index_t last = p.end(part) == map.total ? map.buckets : map.bucket_of(p.end(part));
  EXPECT_EQ(map.bucket_begin(first), p.begin(part));
  EXPECT_EQ(map.bucket_begin(last), p.end(part));
  return std::accumulate(weights.begin() + first, weights.begin() + last, index_t{0});
}

TEST(BlockPartitionBalanced, UniformWeightsDivisibleIsExactlyEven) {
  const std::vector<index_t> weights(100, 10);
  const BlockPartition p = BlockPartition::balanced(1000, weights, 4);
  EXPECT_EQ(p.offsets(), (std::vector<index_t>{0, 250, 500, 750, 1000}));
}

TEST(BlockPartitionBalanced, UniformWeightsAreNearlyEven) {
  const index_t total = 1000;
  const index_t buckets = 64;
  const std::vector<index_t> weights(buckets, 5);
  for (int parts : {2, 3, 5, 7, 16}) {
    const BlockPartition p = BlockPartition::balanced(total, weights, parts);
    ASSERT_EQ(p.parts(), parts);
    EXPECT_EQ(p.total(), total);
    // Each cut is the bucket boundary nearest its ideal place (half a bucket off at most, plus rounding
    // of the boundary to an index), so a part is off by at most a bucket and two indices.
    const double ideal = static_cast<double>(total) / parts;
    const double slack = static_cast<double>(total) / buckets + 2.0;
    for (int q = 0; q < parts; ++q) EXPECT_LE(std::abs(static_cast<double>(p.size(q)) - ideal), slack) << parts;
  }
}

TEST(BlockPartitionBalanced, OneHeavyBucketGetsItsOwnPart) {
  // 100 rows, one per bucket; bucket 10 holds almost all the weight. Worked by hand: the cuts for
  // targets 274.75, 549.5 and 824.25 all land around bucket 10, so they are pushed apart to keep every
  // part non-empty: [0, 10) [10, 11) [11, 12) [12, 100).
  std::vector<index_t> weights(100, 1);
  weights[10] = 1000;
  const BlockPartition p = BlockPartition::balanced(100, weights, 4);
  EXPECT_EQ(p.offsets(), (std::vector<index_t>{0, 10, 11, 12, 100}));
}

TEST(BlockPartitionBalanced, SkewedWeightsStayNearTheOptimum) {
  std::mt19937_64 rng(5);
  std::exponential_distribution<double> heavy_tail(1.0);
  for (int trial = 0; trial < 50; ++trial) {
    const index_t buckets = 20 + static_cast<index_t>(rng() % 80);
    const index_t total = buckets + static_cast<index_t>(rng() % 5000);
    const int parts = 1 + static_cast<int>(rng() % std::min<index_t>(buckets, 12));
    std::vector<index_t> weights(static_cast<std::size_t>(buckets));
    // exp(3 * Exp(1)) is Pareto-like: a few buckets dominate.
    for (auto& w : weights) w = static_cast<index_t>(std::exp(3.0 * heavy_tail(rng)));
    const BlockPartition p = BlockPartition::balanced(total, weights, parts);
    ASSERT_EQ(p.parts(), parts);
    ASSERT_EQ(p.total(), total);
    const BucketMap map(total, buckets);
    const index_t w_total = std::accumulate(weights.begin(), weights.end(), index_t{0});
    const index_t w_max = *std::max_element(weights.begin(), weights.end());
    index_t largest = 0;
    for (int q = 0; q < parts; ++q) {
      EXPECT_GE(p.size(q), 1) << "part " << q << " got no bucket";
      largest = std::max(largest, part_weight(p, q, map, weights));
    }
    // No split can beat max(W / P, the heaviest bucket); each cut is off its target by at most half of
    // the bucket it falls in, so a part exceeds W / P by at most one bucket's weight.
    EXPECT_LE(static_cast<double>(largest), static_cast<double>(w_total) / parts + static_cast<double>(w_max))
        << "trial " << trial;
  }
}

TEST(BlockPartitionBalanced, ZeroWeightsStillGiveEveryPartABucket) {
  const std::vector<index_t> weights(10, 0);
  const BlockPartition p = BlockPartition::balanced(50, weights, 4);
  ASSERT_EQ(p.parts(), 4);
  EXPECT_EQ(p.total(), 50);
  for (int q = 0; q < 4; ++q) EXPECT_GE(p.size(q), 5);
}

TEST(BlockPartitionBalanced, OneBucketPerPart) {
  const std::vector<index_t> weights{3, 1, 4, 1, 5};
  const BlockPartition p = BlockPartition::balanced(5, weights, 5);
  EXPECT_EQ(p.offsets(), (std::vector<index_t>{0, 1, 2, 3, 4, 5}));
}

TEST(BlockPartitionBalanced, RejectsFewerBucketsThanParts) {
  EXPECT_THROW(BlockPartition::balanced(100, std::vector<index_t>(3, 1), 4), nmf::Error);
  // 10 buckets cannot be cut from a range of 5 indices.
  EXPECT_THROW(BlockPartition::balanced(5, std::vector<index_t>(10, 1), 2), nmf::Error);
}

// ----- BucketMap ---------------------------------------------------------------------------------------------

void expect_consistent(const BucketMap& map, index_t index) {
  const index_t b = map.bucket_of(index);
  ASSERT_GE(b, 0);
  ASSERT_LT(b, map.buckets);
  EXPECT_LE(map.bucket_begin(b), index);
  EXPECT_LT(index, map.bucket_begin(b + 1));
}

TEST(BucketMap, BucketCountIsCappedByTotalAndMax) {
  EXPECT_EQ(BucketMap(5, 64).buckets, 5);
  EXPECT_EQ(BucketMap(64, 64).buckets, 64);
  EXPECT_EQ(BucketMap(1000, 64).buckets, 64);
  EXPECT_EQ(BucketMap(0, 64).buckets, 1);
}

TEST(BucketMap, EveryIndexLiesInItsBucket) {
  for (index_t total : {1, 2, 5, 63, 64, 65, 100, 1000, 12345}) {
    for (index_t max_buckets : {1, 7, 64, 100000}) {
      const BucketMap map(total, max_buckets);
      EXPECT_EQ(map.bucket_begin(0), 0);
      EXPECT_EQ(map.bucket_begin(map.buckets), total);
      for (index_t i = 0; i < total; ++i) expect_consistent(map, i);
    }
  }
}

TEST(BucketMap, BucketSizesDifferByAtMostOne) {
  for (index_t total : {7, 64, 65, 1000, 12345}) {
    const BucketMap map(total, 64);
    index_t smallest = total, largest = 0;
    for (index_t b = 0; b < map.buckets; ++b) {
      const index_t size = map.bucket_begin(b + 1) - map.bucket_begin(b);
      smallest = std::min(smallest, size);
      largest = std::max(largest, size);
    }
    EXPECT_GE(smallest, 1);
    EXPECT_LE(largest - smallest, 1) << total;
  }
}

TEST(BucketMap, HugeTotals) {
  const index_t total = (index_t{1} << 62) + 977;
  const BucketMap map(total, 4096);
  EXPECT_EQ(map.bucket_begin(map.buckets), total);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10000; ++i)
    expect_consistent(map, static_cast<index_t>(rng() % static_cast<std::uint64_t>(total)));
  expect_consistent(map, 0);
  expect_consistent(map, total - 1);
}

}  // namespace
