// Counter-based random numbers (Philox4x32-10 from Random123): the value for a global index depends only
// on (seed, stream, index), never on which rank computes it or in what order. This is what makes the
// initial factors identical for any number of ranks.
#pragma once

#include <cstdint>

namespace nmf {

enum class RandomStream : std::uint32_t {
  factor_A = 1,      // initial A, indexed by row * k + column
  factor_S = 2,      // initial S, indexed by column * k + row
  kaczmarz = 3,      // Kaczmarz sampling, indexed by (iteration, draw) within a lane per rank and side
  holdout = 4,       // cross-validation: entry (i, j) of X, indexed by i m + j, one lane per fold
  restart = 5,       // the seed of restart r, indexed by r
  sketch = 6,        // a randomized SVD's test matrix Omega (m x l), indexed by column * l + row
  init_fill = 7,     // nndsvdar's fill of zeros: A indexed by row * k + column, S by (n + column) * k + row
  test_set = 8,      // --test-fraction: rating (i, j) of X, indexed by i m + j
  ratings_fold = 9,  // the recommender mode's cross-validation folds: rating (i, j), indexed by i m + j
};

// Uniform on [0, 1), 53 random bits.
double uniform01(std::uint64_t seed, RandomStream stream, std::uint64_t index);

// Standard normal (Box-Muller from lanes 0 and 1 of the same index).
double standard_normal(std::uint64_t seed, RandomStream stream, std::uint64_t index);

// The same with a second counter, `lane` (at most 2^32 lanes), for independent streams per rank.
double uniform01(std::uint64_t seed, RandomStream stream, std::uint64_t index, std::uint32_t lane);

}  // namespace nmf
