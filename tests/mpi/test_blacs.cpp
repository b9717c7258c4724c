// ScaLAPACK's BLACS grid can be built over the process grid's ranks with the same coordinates, the
// ground a ScaLAPACK-based initialization will stand on.
#include <gtest/gtest.h>

#include "nmf/distribution/blacs.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

TEST(BlacsGrid, HasTheProcessGridsShapeAndCoordinates) {
  for (const GridShape shape : all_grid_shapes(world_size())) {
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    const BlacsGrid blacs(grid);
    EXPECT_EQ(blacs.rows(), shape.rows);
    EXPECT_EQ(blacs.cols(), shape.cols);
    EXPECT_EQ(blacs.row(), grid.row());
    EXPECT_EQ(blacs.col(), grid.col());
  }
}

TEST(BlacsGrid, LocalExtentsOfABlockCyclicDimensionAddUp) {
  // 103 rows in blocks of 8 over the grid's rows: every row is owned once.
  const ProcessGrid grid(MPI_COMM_WORLD, GridShape{world_size(), 1});
  index_t mine = blacs_local_extent(103, 8, grid.row(), world_size()), total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(total, 103);
}

}  // namespace
}  // namespace nmf::test
