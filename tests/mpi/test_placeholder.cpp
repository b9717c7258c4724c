#include <gtest/gtest.h>
#include <mpi.h>

TEST(Placeholder, Ranks) {
  int ranks = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  EXPECT_GE(ranks, 1);
}
