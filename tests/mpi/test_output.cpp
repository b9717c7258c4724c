// Factor files written collectively read back to the same values, in both formats and on every grid,
// and leave no temporary files behind.
#include <gtest/gtest.h>

#include <filesystem>

#include "nmf/driver/factorization.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/output.hpp"
#include "nmf/io/output_set.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

void expect_file_holds(const std::string& path, const DenseMatrix& expected) {
  ReadOptions options;
  options.path = path;
  auto source = open_input(MPI_COMM_WORLD, options);
  const GridShape shape = choose_grid_shape(world_size(), expected.rows(), expected.cols());
  const ProcessGrid grid(MPI_COMM_WORLD, shape);
  expect_block_matches(source->distribute(grid), grid, expected, false);
}

TEST(FactorOutput, RoundTripsInBothFormatsOnEveryGrid) {
  SharedTempDir dir;
  const DenseMatrix full = random_matrix(29, 19, 0.5, 21);
  const int k = 4;
  for (const GridShape shape : all_grid_shapes(world_size())) {
    for (const OutputFormat format : {OutputFormat::mtx, OutputFormat::npy}) {
      SCOPED_TRACE("grid " + shape.str() + (format == OutputFormat::mtx ? " mtx" : " npy"));
      auto source = dense_in_memory(full, "test", false);
      const ProcessGrid grid(MPI_COMM_WORLD, shape);
      const DistMatrix x = source->distribute(grid);
      const Factors f = random_factors(x, grid, k, 99);
      OutputSet outputs(MPI_COMM_WORLD, dir.file("run_" + shape.str()), format);
      outputs.write_factors(grid, x.layout, f);
      outputs.commit(grid.comm(), "{}\n");
      const OutputPaths& paths = outputs.paths();
      DenseMatrix a, s;
      gather_factors(grid, x.layout, f, a, s);
      expect_file_holds(paths.a, a);  // 17 significant digits: the text round trip is exact
      expect_file_holds(paths.s, s);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().string().find(".tmp-"), std::string::npos) << "left behind: " << entry.path();
}

TEST(FactorOutput, RejectsAMissingOrUnwritableDirectory) {
  EXPECT_THROW(check_output_prefix(MPI_COMM_WORLD, "/nonexistent_nmf_dir/run"), CollectiveError);
  SharedTempDir dir;
  write_text(dir.file("plain_file"), "x");
  EXPECT_THROW(check_output_prefix(MPI_COMM_WORLD, dir.file("plain_file") + "/run"), CollectiveError);
  EXPECT_NO_THROW(check_output_prefix(MPI_COMM_WORLD, dir.file("run")));
}

}  // namespace
}  // namespace nmf::test
