// Contiguous partitions of an index range [0, total) into parts: how rows and columns are split into
// grid blocks and factor slices.
#pragma once

#include <vector>

#include "nmf/types.hpp"

namespace nmf {

class BlockPartition {
 public:
  BlockPartition() : offsets_{0} {}
  // offsets: parts + 1 non-decreasing values, from 0 to total.
  explicit BlockPartition(std::vector<index_t> offsets);

  // Parts whose sizes differ by at most one.
  static BlockPartition even(index_t total, int parts);

  // Parts of nearly equal weight. The range is cut into `bucket_weights.size()` equal buckets (see
  // BucketMap); cuts fall on bucket boundaries and every part gets at least one bucket.
  static BlockPartition balanced(index_t total, const std::vector<index_t>& bucket_weights, int parts);

  int parts() const { return static_cast<int>(offsets_.size()) - 1; }
  index_t total() const { return offsets_.back(); }
  index_t begin(int part) const { return offsets_[static_cast<std::size_t>(part)]; }
  index_t end(int part) const { return offsets_[static_cast<std::size_t>(part) + 1]; }
  index_t size(int part) const { return end(part) - begin(part); }
  index_t max_size() const;
  // The part holding `index` (0 <= index < total). Binary search, O(log parts).
  int owner(index_t index) const;
  const std::vector<index_t>& offsets() const { return offsets_; }

 private:
  std::vector<index_t> offsets_;
};

// Maps indices of [0, total) onto `buckets` contiguous buckets of nearly equal size, for histograms
// of nonzeros per row or column whose length must not grow with the matrix.
struct BucketMap {
  index_t total = 0;
  index_t buckets = 0;
  BucketMap(index_t total_, index_t max_buckets);
  index_t bucket_of(index_t index) const;
  index_t bucket_begin(index_t bucket) const;
};

}  // namespace nmf
