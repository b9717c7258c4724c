#include "nmf/partition.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

namespace nmf {

namespace {
__extension__ typedef __int128 wide_t;  // GCC/Clang 128-bit integer, for exact index arithmetic

// floor(a * b / c) without overflow for the 64-bit index ranges we meet.
index_t mul_div_floor(index_t a, index_t b, index_t c) {
  return static_cast<index_t>(static_cast<wide_t>(a) * b / c);
}
index_t mul_div_ceil(index_t a, index_t b, index_t c) {
  const wide_t product = static_cast<wide_t>(a) * b;
  return static_cast<index_t>((product + c - 1) / c);
}
}  // namespace

BlockPartition::BlockPartition(std::vector<index_t> offsets) : offsets_(std::move(offsets)) {
  NMF_REQUIRE(!offsets_.empty() && offsets_.front() == 0, Error, "partition offsets must start at 0");
  NMF_REQUIRE(std::is_sorted(offsets_.begin(), offsets_.end()), Error, "partition offsets must not decrease");
}

BlockPartition BlockPartition::even(index_t total, int parts) {
  NMF_REQUIRE(parts >= 1 && total >= 0, Error, "even partition needs parts >= 1 and total >= 0");
  std::vector<index_t> offsets(static_cast<std::size_t>(parts) + 1);
  for (int p = 0; p <= parts; ++p) offsets[static_cast<std::size_t>(p)] = mul_div_floor(p, total, parts);
  return BlockPartition(std::move(offsets));
}

BlockPartition BlockPartition::balanced(index_t total, const std::vector<index_t>& bucket_weights, int parts) {
  const auto buckets = static_cast<index_t>(bucket_weights.size());
  NMF_REQUIRE(parts >= 1 && buckets >= parts, Error, "balanced partition needs at least one bucket per part");
  const BucketMap map(total, buckets);
  NMF_REQUIRE(map.buckets == buckets, Error, "bucket count does not match the range");

  // prefix[b] = weight of buckets [0, b).
  std::vector<index_t> prefix(static_cast<std::size_t>(buckets) + 1, 0);
  std::partial_sum(bucket_weights.begin(), bucket_weights.end(), prefix.begin() + 1);
  const double total_weight = static_cast<double>(prefix.back());

  std::vector<index_t> offsets(static_cast<std::size_t>(parts) + 1, 0);
  index_t previous_cut = 0;
  for (int t = 1; t < parts; ++t) {
    const double target = total_weight * t / parts;
    // First bucket boundary whose prefix reaches the target, then the closer of it and the one before.
    auto it = std::lower_bound(prefix.begin(), prefix.end(), static_cast<index_t>(std::ceil(target)));
    index_t cut = static_cast<index_t>(it - prefix.begin());
    if (cut > 0 && target - prefix[static_cast<std::size_t>(cut - 1)] <
                       prefix[static_cast<std::size_t>(std::min(cut, buckets))] - target)
      --cut;
    // Every part keeps at least one bucket.
    cut = std::clamp(cut, previous_cut + 1, buckets - (parts - t));
    offsets[static_cast<std::size_t>(t)] = map.bucket_begin(cut);
    previous_cut = cut;
  }
  offsets.back() = total;
  return BlockPartition(std::move(offsets));
}

index_t BlockPartition::max_size() const {
  index_t largest = 0;
  for (int p = 0; p < parts(); ++p) largest = std::max(largest, size(p));
  return largest;
}

int BlockPartition::owner(index_t index) const {
  // The last part whose begin is <= index, skipping empty parts.
  auto it = std::upper_bound(offsets_.begin(), offsets_.end() - 1, index);
  return static_cast<int>(it - offsets_.begin()) - 1;
}

BucketMap::BucketMap(index_t total_, index_t max_buckets)
    : total(total_), buckets(std::max<index_t>(1, std::min(total_, max_buckets))) {}

index_t BucketMap::bucket_of(index_t index) const {
  // The readers call this twice per entry: skip the 128-bit division when it is not needed (same result).
  if (buckets == total) return index;
  if (index <= INT64_MAX / buckets) return index * buckets / total;
  return mul_div_floor(index, buckets, total);
}

index_t BucketMap::bucket_begin(index_t bucket) const {
  return mul_div_ceil(bucket, total, buckets);
}

}  // namespace nmf
