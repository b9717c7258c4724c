#include <gtest/gtest.h>

#include "nmf/distribution/partition.hpp"

TEST(Placeholder, EvenPartition) {
  EXPECT_EQ(nmf::BlockPartition::even(10, 3).size(0), 3);
}
