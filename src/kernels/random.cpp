#include "nmf/kernels/random.hpp"

#include <cmath>

#include <Random123/philox.h>

namespace nmf {

double uniform01(std::uint64_t seed, RandomStream stream, std::uint64_t index) {
  return uniform01(seed, stream, index, 0u);
}

double uniform01(std::uint64_t seed, RandomStream stream, std::uint64_t index, std::uint32_t lane) {
  using Rng = r123::Philox4x32;
  const Rng::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const Rng::ctr_type counter = {{static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
                                  static_cast<std::uint32_t>(stream), lane}};
  const Rng::ctr_type bits = Rng()(counter, key);
  const std::uint64_t word = (static_cast<std::uint64_t>(bits[0]) << 32) | bits[1];
  return static_cast<double>(word >> 11) * 0x1.0p-53;
}

double standard_normal(std::uint64_t seed, RandomStream stream, std::uint64_t index) {
  const double u1 = 1.0 - uniform01(seed, stream, index, 0u);  // in (0, 1]: the logarithm stays finite
  const double u2 = uniform01(seed, stream, index, 1u);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
}

}  // namespace nmf
