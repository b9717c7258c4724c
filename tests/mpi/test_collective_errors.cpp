// Failures on some ranks become the same error on every rank, with the message of the first failing
// rank, and bad lines are reported with their line number in the whole file.
#include <gtest/gtest.h>

#include <sstream>

#include "nmf/io/input.hpp"
#include "nmf/mpi.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

TEST(Collectively, NoFailureMeansNoThrowAndReturnsTheValue) {
  const int value = collectively(MPI_COMM_WORLD, [] { return world_rank() * 2; });
  EXPECT_EQ(value, world_rank() * 2);
}

TEST(Collectively, OneFailingRankFailsEveryRankWithItsMessage) {
  const int last = world_size() - 1;
  try {
    collectively(MPI_COMM_WORLD, [&] {
      if (world_rank() == last) throw InputError("bad thing on the last rank", __FILE__, __LINE__);
    });
    ADD_FAILURE() << "no exception on rank " << world_rank();
  } catch (const CollectiveError& e) {
    EXPECT_STREQ(e.what(), "bad thing on the last rank");
    EXPECT_EQ(e.origin_rank(), last);
    EXPECT_EQ(e.code(), ExitCode::bad_input);
  }
}

TEST(Collectively, TheLowestFailingRankWins) {
  try {
    collectively(MPI_COMM_WORLD, [&] {
      if (world_rank() >= world_size() / 2)
        throw UsageError("rank " + std::to_string(world_rank()), __FILE__, __LINE__);
    });
    ADD_FAILURE() << "no exception";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(std::string(e.what()), "rank " + std::to_string(world_size() / 2));
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

TEST(Collectively, NonNmfExceptionsAreAgreedToo) {
  try {
    collectively(MPI_COMM_WORLD, [&] {
      if (world_rank() == 0) throw std::bad_alloc();
    });
    ADD_FAILURE() << "no exception";
  } catch (const CollectiveError& e) {
    EXPECT_NE(std::string(e.what()).find("out of memory"), std::string::npos);
  }
}

TEST(ParallelReadErrors, ABadLineIsReportedWithItsLineNumberInTheWholeFile) {
  // 400 good entries and one negative value near the end, read in 64-byte blocks so the rank that owns
  // the end of the file finds it: the line number must still count every line before it.
  SharedTempDir dir;
  std::ostringstream text;
  text << "%%MatrixMarket matrix coordinate real general\n% comment line\n50 40 401\n";
  for (int e = 0; e < 400; ++e) text << (e % 50) + 1 << ' ' << (e % 40) + 1 << " 1.5\n";
  text << "7 8 -2.5\n";
  write_text(dir.file("bad.mtx"), text.str());
  ReadOptions options;
  options.path = dir.file("bad.mtx");
  options.chunk_bytes = 64;
  auto source = open_input(MPI_COMM_WORLD, options);
  const ProcessGrid grid(MPI_COMM_WORLD, GridShape{world_size(), 1});
  try {
    source->distribute(grid);
    ADD_FAILURE() << "no error for a negative value";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(std::string(e.what()).find(dir.file("bad.mtx") + ":404: negative value -2.5"), 0u) << e.what();
  }
}

TEST(ParallelReadErrors, AnEntryCountDifferentFromTheHeaderIsReported) {
  SharedTempDir dir;
  write_text(dir.file("short.mtx"), "%%MatrixMarket matrix coordinate real general\n3 3 4\n1 1 1\n2 2 1\n3 3 1\n");
  ReadOptions options;
  options.path = dir.file("short.mtx");
  auto source = open_input(MPI_COMM_WORLD, options);
  const ProcessGrid grid(MPI_COMM_WORLD, all_grid_shapes(world_size()).front());
  try {
    source->distribute(grid);
    ADD_FAILURE() << "no error";
  } catch (const CollectiveError& e) {
    EXPECT_NE(std::string(e.what()).find(":2: the size line declares 4 entries but the file has 3"), std::string::npos)
        << e.what();
  }
}

TEST(ParallelReadErrors, AMissingFileFailsEveryRank) {
  ReadOptions options;
  options.path = "/nonexistent_nmf_dir/x.mtx";
  try {
    open_input(MPI_COMM_WORLD, options);
    ADD_FAILURE() << "no error";
  } catch (const CollectiveError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent_nmf_dir/x.mtx"), std::string::npos);
    EXPECT_EQ(e.code(), ExitCode::bad_input);
  }
}

}  // namespace
}  // namespace nmf::test
