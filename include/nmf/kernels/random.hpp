// Counter-based random numbers (Philox4x32-10 from Random123): the value for a global index depends only
// on (seed, stream, index), never on which rank computes it or in what order. This is what makes the
// initial factors identical for any number of ranks.
#pragma once

#include <cstdint>

namespace nmf {

enum class RandomStream : std::uint32_t {
  factor_A = 1,  // initial A, indexed by row * k + column
  factor_S = 2,  // initial S, indexed by column * k + row
};

// Uniform on [0, 1), 53 random bits.
double uniform01(std::uint64_t seed, RandomStream stream, std::uint64_t index);

}  // namespace nmf
