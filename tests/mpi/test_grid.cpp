// The process grid's communicators hold the ranks the layout says they hold, in the order it relies on.
#include <gtest/gtest.h>

#include "nmf/distribution/grid.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

int rank_in(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}
int size_of(MPI_Comm comm) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  return size;
}

TEST(ProcessGrid, CommunicatorsFollowTheRowMajorGrid) {
  for (const GridShape shape : all_grid_shapes(world_size())) {
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    EXPECT_EQ(grid.rank(), world_rank());
    EXPECT_EQ(grid.rank(), grid.row() * shape.cols + grid.col());
    EXPECT_EQ(size_of(grid.row_comm()), shape.cols);
    EXPECT_EQ(rank_in(grid.row_comm()), grid.col());
    EXPECT_EQ(size_of(grid.col_comm()), shape.rows);
    EXPECT_EQ(rank_in(grid.col_comm()), grid.row());
    EXPECT_EQ(rank_in(grid.s_order_comm()), grid.col() * shape.rows + grid.row());
    // Every rank of my grid row has my row index.
    int row_min = 0, row_max = 0, me = grid.row();
    MPI_Allreduce(&me, &row_min, 1, MPI_INT, MPI_MIN, grid.row_comm());
    MPI_Allreduce(&me, &row_max, 1, MPI_INT, MPI_MAX, grid.row_comm());
    EXPECT_EQ(row_min, grid.row());
    EXPECT_EQ(row_max, grid.row());
  }
}

TEST(ProcessGrid, RejectsAShapeThatDoesNotUseEveryRank) {
  EXPECT_THROW(ProcessGrid(MPI_COMM_WORLD, GridShape{world_size() + 1, 1}), UsageError);
}

}  // namespace
}  // namespace nmf::test
