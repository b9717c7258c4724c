#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "nmf/kernels/random.hpp"

namespace {

using nmf::RandomStream;
using nmf::uniform01;

TEST(Uniform01, InHalfOpenUnitInterval) {
  for (std::uint64_t seed : {0ull, 1ull, 42ull, ~0ull}) {
    for (std::uint64_t i = 0; i < 20000; ++i) {
      const double u = uniform01(seed, RandomStream::factor_A, i);
      ASSERT_GE(u, 0.0);
      ASSERT_LT(u, 1.0);
    }
  }
}

TEST(Uniform01, HasAtMost53Bits) {
  // A multiple of 2^-53 below 1 is exactly representable, so u * 2^53 is an integer.
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const double scaled = uniform01(7, RandomStream::factor_S, i) * 0x1.0p53;
    EXPECT_EQ(scaled, std::floor(scaled));
  }
}

TEST(Uniform01, IsAPureFunctionOfItsArguments) {
  // Same value whatever was drawn before and in whatever order: what makes factors rank-independent.
  double forward[100];
  for (std::uint64_t i = 0; i < 100; ++i) forward[i] = uniform01(123, RandomStream::factor_A, i);
  for (std::uint64_t i = 100; i-- > 0;) EXPECT_EQ(uniform01(123, RandomStream::factor_A, i), forward[i]);
}

TEST(Uniform01, DiffersByStream) {
  for (std::uint64_t i = 0; i < 1000; ++i)
    EXPECT_NE(uniform01(1, RandomStream::factor_A, i), uniform01(1, RandomStream::factor_S, i)) << i;
}

TEST(Uniform01, DiffersBySeed) {
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const double base = uniform01(1, RandomStream::factor_A, i);
    EXPECT_NE(uniform01(2, RandomStream::factor_A, i), base) << i;
    // Seeds that agree in their low 32 bits must still differ.
    EXPECT_NE(uniform01(1 + (1ull << 32), RandomStream::factor_A, i), base) << i;
  }
}

TEST(Uniform01, DiffersInTheHighBitsOfTheIndex) {
  for (std::uint64_t i = 0; i < 1000; ++i)
    EXPECT_NE(uniform01(5, RandomStream::factor_A, i), uniform01(5, RandomStream::factor_A, i + (1ull << 32))) << i;
}

TEST(Uniform01, MeanAndVarianceMatchTheUniformDistribution) {
  const int n = 1000000;
  double sum = 0.0, sum_sq = 0.0;
  for (int i = 0; i < n; ++i) {
    const double u = uniform01(2024, RandomStream::factor_A, static_cast<std::uint64_t>(i));
    sum += u;
    sum_sq += u * u;
  }
  const double mean = sum / n;
  const double variance = sum_sq / n - mean * mean;
  // Standard errors: sqrt(Var U / n) for the mean; sqrt((mu4 - sigma^4) / n) for the variance, with
  // mu4 = 1/80 and sigma^4 = 1/144 for U(0, 1), so mu4 - sigma^4 = 1/180.
  const double mean_se = std::sqrt(1.0 / 12.0 / n);
  const double variance_se = std::sqrt(1.0 / 180.0 / n);
  EXPECT_NEAR(mean, 0.5, 5 * mean_se);
  EXPECT_NEAR(variance, 1.0 / 12.0, 5 * variance_se);
}

}  // namespace
