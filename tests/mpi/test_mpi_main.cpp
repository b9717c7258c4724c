// Deliberately failing tests of the MPI test main (mpi_main.cpp), disabled so that the normal runs skip them.
// tests/CMakeLists.txt runs each on its own (--gtest_also_run_disabled_tests --gtest_filter=...) through
// tests/expect_exit.py, which checks that the job fails, names the rank and the test, and ends within seconds
// instead of hanging until the ctest timeout.
#include <gtest/gtest.h>
#include <mpi.h>

#include "test_util.hpp"

namespace nmf::test {
namespace {

TEST(MpiMain, DISABLED_FatalFailureOnOneRankBeforeACollective) {
  // The last rank returns from the test before the barrier the others wait in.
  ASSERT_NE(world_rank(), world_size() - 1) << "deliberate fatal failure on the last rank";
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(MpiMain, DISABLED_NonFatalFailureOnOneRank) {
  // Every rank reaches the end of the test: the failure is gathered and reported by rank 0, no abort.
  EXPECT_NE(world_rank(), world_size() - 1) << "deliberate non-fatal failure on the last rank";
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace nmf::test
