// The outputs of a run are committed as a set (nmf/io/output_set.hpp): a short write, a failed rename or a
// second run on the same prefix leaves every earlier output untouched, and the checksums recorded for the
// summary are those of the files. A commit removes the temporaries a killed run left of its files, and nothing else.
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "nmf/driver/factorization.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/mpi_file.hpp"
#include "nmf/io/output_set.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Path -> contents of every file in `dir`, as rank 0 sees them (empty on other ranks).
std::map<std::string, std::string> snapshot(const SharedTempDir& dir) {
  std::map<std::string, std::string> files;
  if (world_rank() == 0)
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
      files[entry.path().filename().string()] = read_bytes(entry.path().string());
  return files;
}

// A small problem on the whole world, and factors drawn from `seed`.
struct Problem {
  Problem() : grid(MPI_COMM_WORLD, choose_grid_shape(world_size(), 23, 17)) {
    x = dense_in_memory(random_matrix(23, 17, 0.6, 5), "test", false)->distribute(grid);
  }
  Factors factors(std::uint64_t seed) const { return random_factors(x, grid, 3, seed); }
  ProcessGrid grid;
  DistMatrix x;
};

// Writes and commits a whole set with factors from `seed`; returns the files recorded.
std::vector<WrittenFile> commit_set(const Problem& p, const std::string& prefix, std::uint64_t seed) {
  OutputSet outputs(MPI_COMM_WORLD, prefix, OutputFormat::mtx);
  outputs.write_factors(p.grid, p.x.layout, p.factors(seed));
  outputs.add_text_file(MPI_COMM_WORLD, "notes", prefix + "_notes.txt", "seed " + std::to_string(seed) + "\n");
  outputs.commit(MPI_COMM_WORLD, "{\"seed\": " + std::to_string(seed) + "}\n");
  return outputs.files();
}

// Restores MpiFile's real write call when a test ends, whatever happens.
struct WriteAtOverride {
  explicit WriteAtOverride(testing::WriteAtFunction function) { testing::set_write_at_function(std::move(function)); }
  ~WriteAtOverride() { testing::set_write_at_function({}); }
};

TEST(OutputSet, RecordsTheSizeAndCrc32OfEveryFile) {
  SharedTempDir dir;
  const Problem problem;
  const std::vector<WrittenFile> files = commit_set(problem, dir.file("run"), 1);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].role, "A");
  EXPECT_EQ(files[1].role, "S");
  if (world_rank() == 0) {
    for (const WrittenFile& file : files) {
      const std::string bytes = read_bytes(file.path);
      EXPECT_EQ(file.bytes, static_cast<index_t>(bytes.size())) << file.path;
      const auto crc = crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
      EXPECT_EQ(file.crc32, static_cast<std::uint32_t>(crc)) << file.path;
    }
    EXPECT_EQ(read_bytes(dir.file("run_summary.json")), "{\"seed\": 1}\n");
    EXPECT_FALSE(std::filesystem::exists(dir.file("run.lock"))) << "the lock file outlives the set";
  }
}

TEST(OutputSet, ACommitRemovesOnlyTheTemporariesKilledRunsLeftOfItsFiles) {
  namespace fs = std::filesystem;
  SharedTempDir dir;
  const Problem problem;
  const auto now = fs::file_time_type::clock::now();
  const std::map<std::string, bool> leftovers = {// name -> removed by the commit
                                                 {"run_A.mtx.tmp-4242", true},   {"run_summary.json.tmp-17", true},
                                                 {"run_notes.txt.tmp-99", true}, {"run_A.mtx.tmp-42x", false},
                                                 {"run_A.mtx.tmp-", false},      {"run_A.mtx.old-55", false},
                                                 {"run2_A.mtx.tmp-5", false},    {"run_B.mtx.tmp-6", false},
                                                 {"run_S.mtx.tmp-77", false},    {"x_run_A.mtx.tmp-8", false}};
  if (world_rank() == 0) {
    for (const auto& [name, removed] : leftovers) {
      std::ofstream(dir.file(name)) << "left behind\n";
      // run_S.mtx.tmp-77 stands for a file being written now (after the run started), the others are old.
      fs::last_write_time(dir.file(name),
                          name == "run_S.mtx.tmp-77" ? now + std::chrono::hours(1) : now - std::chrono::hours(1));
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  commit_set(problem, dir.file("run"), 3);
  if (world_rank() == 0) {
    for (const auto& [name, removed] : leftovers) EXPECT_EQ(fs::exists(dir.file(name)), !removed) << name;
    EXPECT_EQ(read_bytes(dir.file("run_summary.json")), "{\"seed\": 3}\n");
  }
}

TEST(OutputSet, AShortWriteOnOneRankFailsEveryRankAndKeepsTheOldSet) {
  SharedTempDir dir;
  const Problem problem;
  commit_set(problem, dir.file("run"), 1);
  const auto before = snapshot(dir);
  {
    // The last rank's storage takes only half of each write, as a full disk does under Open MPI 4.1,
    // which still reports success.
    const bool cut_short = world_rank() == world_size() - 1;
    WriteAtOverride full_disk(
        [cut_short](MPI_File file, MPI_Offset offset, const char* buffer, int count, MPI_Status* status) {
          return MPI_File_write_at(file, offset, buffer, cut_short ? count / 2 : count, MPI_BYTE, status);
        });
    try {
      commit_set(problem, dir.file("run"), 2);
      ADD_FAILURE() << "a short write went unnoticed on rank " << world_rank();
    } catch (const CollectiveError& e) {
      EXPECT_EQ(e.code(), ExitCode::output_error);
      EXPECT_EQ(e.origin_rank(), world_size() - 1);
      const std::string message = e.what();
      EXPECT_NE(message.find("cannot write '" + dir.file("run_A.mtx")), std::string::npos) << message;
      EXPECT_NE(message.find("bytes at byte"), std::string::npos) << message;
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(snapshot(dir), before) << "the failed run changed or left files";
}

TEST(OutputSet, AFailedRenameInTheCommitPutsEveryOldFileBack) {
  SharedTempDir dir;
  const Problem problem;
  commit_set(problem, dir.file("run"), 1);
  const auto before = snapshot(dir);
  try {
    OutputSet outputs(MPI_COMM_WORLD, dir.file("run"), OutputFormat::mtx);
    outputs.write_factors(problem.grid, problem.x.layout, problem.factors(2));
    // S's temporary disappears, so its rename fails after A's new file is already in place.
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0)
      for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
        if (entry.path().filename().string().rfind("run_S.mtx.tmp-", 0) == 0) std::filesystem::remove(entry.path());
    MPI_Barrier(MPI_COMM_WORLD);
    outputs.commit(MPI_COMM_WORLD, "{\"seed\": 2}\n");
    ADD_FAILURE() << "the commit did not fail";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code(), ExitCode::output_error);
    EXPECT_NE(std::string(e.what()).find("no output of '" + dir.file("run") + "' was replaced"), std::string::npos)
        << e.what();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(snapshot(dir), before) << "the failed commit changed or left files";
}

TEST(OutputSet, ASecondSetOnTheSamePrefixIsRefusedWhileTheFirstIsOpen) {
  SharedTempDir dir;
  OutputSet first(MPI_COMM_WORLD, dir.file("run"), OutputFormat::npy);
  try {
    OutputSet second(MPI_COMM_WORLD, dir.file("run"), OutputFormat::mtx);
    ADD_FAILURE() << "two sets hold one prefix";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code(), ExitCode::output_error);
    EXPECT_NE(std::string(e.what()).find("another run is writing outputs with prefix '" + dir.file("run") + "'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(OutputSet other(MPI_COMM_WORLD, dir.file("other"), OutputFormat::mtx));
}

TEST(OutputSet, AnUncommittedSetLeavesNothingBehind) {
  SharedTempDir dir;
  const Problem problem;
  {
    OutputSet outputs(MPI_COMM_WORLD, dir.file("run"), OutputFormat::npy);
    outputs.write_factors(problem.grid, problem.x.layout, problem.factors(3));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_TRUE(snapshot(dir).empty());
}

}  // namespace
}  // namespace nmf::test
