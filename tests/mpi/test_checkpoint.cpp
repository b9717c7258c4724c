// Checkpoint files (nmf/io/checkpoint_files.hpp) and the checkpoint hook (nmf/driver/checkpoint.hpp): every rank
// writes its slice at its global offset and any slicing reads it back; a corrupted or truncated file is refused
// on every rank; the hook falls back to the previous checkpoint, refuses another run's, and agrees on a signal
// caught by one rank.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "nmf/driver/checkpoint.hpp"
#include "nmf/io/checkpoint_files.hpp"
#include "nmf/io/mpi_file.hpp"
#include "nmf/mpi.hpp"
#include "nmf/partition.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

constexpr index_t kGlobal = 37;  // global indices (rows of A): not a multiple of any rank count here
constexpr index_t kWidth = 3;    // doubles per index (k)

// The value of entry c of global index i, for `version` (so two checkpoints hold different data).
double value_at(index_t i, index_t c, int version) {
  return 1000.0 * version + static_cast<double>(i) + 0.125 * static_cast<double>(c) + 1.0 / 3.0;
}

// This rank's slice [first, first + count) under a partition of kGlobal into world_size() parts, filled (or not).
struct Slice {
  index_t first = 0, count = 0;
  std::vector<double> data;
  Slice(index_t first_, index_t count_)
      : first(first_), count(count_), data(static_cast<std::size_t>(count * kWidth)) {}
  void fill(int version) {
    for (index_t i = 0; i < count; ++i)
      for (index_t c = 0; c < kWidth; ++c)
        data[static_cast<std::size_t>(i * kWidth + c)] = value_at(first + i, c, version);
  }
  CheckpointArray array(const std::string& name) { return {name, kGlobal, kWidth, first, count, data.data()}; }
};

Slice even_slice() {
  const BlockPartition parts = BlockPartition::even(kGlobal, world_size());
  return Slice(parts.begin(world_rank()), parts.size(world_rank()));
}

// Another slicing of the same indices: rank r of P takes the slice that rank P-1-r takes in even_slice(), with
// the sizes of a partition into P+1 parts (the last index range goes to the last rank): any layout reads back.
Slice other_slice() {
  const int ranks = world_size();
  const BlockPartition parts = BlockPartition::even(kGlobal, ranks + 1);
  const int r = ranks - 1 - world_rank();
  const index_t first = parts.begin(r);
  const index_t end = r == ranks - 1 ? kGlobal : parts.begin(r + 1);
  return Slice(first, end - first);
}

std::uint32_t crc_of_whole(int version) {
  std::vector<double> all;
  for (index_t i = 0; i < kGlobal; ++i)
    for (index_t c = 0; c < kWidth; ++c) all.push_back(value_at(i, c, version));
  return static_cast<std::uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(all.data()), static_cast<uInt>(all.size() * 8)));
}

std::string write_version(const std::string& dir, int version, int keep = 1) {
  Slice slice = even_slice();
  slice.fill(version);
  return write_checkpoint(MPI_COMM_WORLD, dir, "job-it", "job-it" + std::to_string(version), {slice.array("A")},
                          {{"version", version}}, keep);
}

// Rank 0 changes the file (the others wait).
template <class Change>
void on_rank0(Change&& change) {
  if (world_rank() == 0) change();
  MPI_Barrier(MPI_COMM_WORLD);
}

void flip_byte(const std::string& path, long offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(offset);
  char byte = 0;
  file.get(byte);
  file.seekp(offset);
  file.put(static_cast<char>(byte ^ 0x40));
}

TEST(CheckpointFiles, RoundTripRecordsTheSizeAndCrc32OfEachFile) {
  SharedTempDir dir;
  const std::string path = write_version(dir.path(), 1);
  const nlohmann::json manifest = read_checkpoint_manifest(MPI_COMM_WORLD, path);
  EXPECT_EQ(manifest["version"].get<int>(), 1);
  EXPECT_EQ(manifest["files"]["A"]["bytes"].get<index_t>(), kGlobal * kWidth * 8);
  EXPECT_EQ(std::stoul(manifest["files"]["A"]["checksum"].get<std::string>(), nullptr, 16), crc_of_whole(1));
  Slice back = even_slice();
  read_checkpoint_arrays(MPI_COMM_WORLD, path, manifest, {back.array("A")});
  Slice expected = even_slice();
  expected.fill(1);
  EXPECT_EQ(back.data, expected.data);
  EXPECT_EQ(list_checkpoints(MPI_COMM_WORLD, dir.path(), "job-it"), std::vector<std::string>{path});
}

TEST(CheckpointFiles, AnotherSlicingReadsItsOwnSliceBack) {
  SharedTempDir dir;
  const std::string path = write_version(dir.path(), 2);
  const nlohmann::json manifest = read_checkpoint_manifest(MPI_COMM_WORLD, path);
  Slice back = other_slice();
  read_checkpoint_arrays(MPI_COMM_WORLD, path, manifest, {back.array("A")});
  Slice expected = other_slice();
  expected.fill(2);
  EXPECT_EQ(back.data, expected.data);
}

TEST(CheckpointFiles, ACorruptedFileIsRefusedOnEveryRank) {
  SharedTempDir dir;
  const std::string path = write_version(dir.path(), 3);
  on_rank0([&] { flip_byte(path + "/A.bin", 100); });
  const nlohmann::json manifest = read_checkpoint_manifest(MPI_COMM_WORLD, path);
  Slice back = even_slice();
  try {
    read_checkpoint_arrays(MPI_COMM_WORLD, path, manifest, {back.array("A")});
    ADD_FAILURE() << "a corrupted checkpoint was read";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("A.bin does not match its checksum"), std::string::npos) << e.what();
  }
}

TEST(CheckpointFiles, ATruncatedFileIsRefusedOnEveryRank) {
  SharedTempDir dir;
  const std::string path = write_version(dir.path(), 4);
  on_rank0([&] { std::filesystem::resize_file(path + "/A.bin", kGlobal * kWidth * 8 - 8); });
  const nlohmann::json manifest = read_checkpoint_manifest(MPI_COMM_WORLD, path);
  Slice back = even_slice();
  try {
    read_checkpoint_arrays(MPI_COMM_WORLD, path, manifest, {back.array("A")});
    ADD_FAILURE() << "a truncated checkpoint was read";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(CheckpointFiles, KeepsTheNewestKAndNothingHalfWritten) {
  SharedTempDir dir;
  for (int version = 1; version <= 4; ++version) write_version(dir.path(), version, 2);
  const std::vector<std::string> kept = list_checkpoints(MPI_COMM_WORLD, dir.path(), "job-it");
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(std::filesystem::path(kept[0]).filename(), "job-it4");
  EXPECT_EQ(std::filesystem::path(kept[1]).filename(), "job-it3");
  // A directory without its manifest (a write that crashed before the rename leaves a .tmp- name; one renamed by
  // hand without a manifest) is not a checkpoint.
  on_rank0([&] { std::filesystem::create_directory(dir.file("job-it9")); });
  EXPECT_EQ(list_checkpoints(MPI_COMM_WORLD, dir.path(), "job-it").size(), 2u);
}

// --- the hook ------------------------------------------------------------------------------------------------------

CheckpointSettings settings_in(const std::string& dir, int keep) {
  CheckpointSettings s;
  s.dir = dir;
  s.resume_dir = dir;
  s.every = 5;
  s.keep = keep;
  return s;
}

nlohmann::ordered_json identity(int k) {
  return {{"input", "test"}, {"k", k}};
}

// Saves iteration `iteration` with data of version `iteration` and a replicated value.
void save(Checkpointer& hook, int iteration) {
  Slice slice = even_slice();
  slice.fill(iteration);
  std::vector<IterationRecord> history(1);
  history[0].iteration = iteration;
  history[0].objective = 0.5 * iteration;
  LoopState state;
  state.iteration = iteration;
  state.seconds = iteration;
  state.arrays = {slice.array("A")};
  state.replicated["carried"] = {1.0 * iteration, std::nan("")};
  state.history = &history;
  hook.iteration_ended(state, "");
}

struct Restored {
  bool found = false;
  LoopState state;
  Slice slice = even_slice();
  std::vector<IterationRecord> history;
};

Restored restore_from(Checkpointer& hook) {
  Restored r;
  r.state.arrays = {r.slice.array("A")};
  r.state.replicated["carried"] = {};
  r.state.history = &r.history;
  r.found = hook.restore(r.state);
  return r;
}

TEST(Checkpointer, FallsBackToThePreviousCheckpointWhenTheNewestIsCorrupted) {
  SharedTempDir dir;
  {
    Checkpointer hook(MPI_COMM_WORLD, settings_in(dir.path(), 2), "job", identity(3), {{"P", world_size()}});
    save(hook, 5);
    save(hook, 7);  // not due (every 5): not written
    save(hook, 10);
  }
  ASSERT_EQ(list_checkpoints(MPI_COMM_WORLD, dir.path(), "job-it").size(), 2u);
  on_rank0([&] { flip_byte(dir.file("job-it000000010/A.bin"), 8); });
  Checkpointer hook(MPI_COMM_WORLD, settings_in(dir.path(), 2), "job", identity(3), {{"P", world_size()}});
  const Restored r = restore_from(hook);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.state.iteration, 5);
  EXPECT_EQ(r.state.seconds, 5.0);
  Slice expected = even_slice();
  expected.fill(5);
  EXPECT_EQ(r.slice.data, expected.data);
  ASSERT_EQ(r.state.replicated.at("carried").size(), 2u);
  EXPECT_EQ(r.state.replicated.at("carried")[0], 5.0);
  EXPECT_TRUE(std::isnan(r.state.replicated.at("carried")[1]));
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_EQ(r.history[0].objective, 2.5);
  EXPECT_TRUE(std::isnan(r.history[0].relative_error));

  // Both corrupted: a clear refusal, the same on every rank.
  on_rank0([&] { flip_byte(dir.file("job-it000000005/A.bin"), 8); });
  try {
    restore_from(hook);
    ADD_FAILURE() << "resumed from corrupted checkpoints";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("verifies"), std::string::npos) << e.what();
  }
}

TEST(Checkpointer, RefusesAnotherRunsCheckpointNamingTheDifference) {
  SharedTempDir dir;
  {
    Checkpointer hook(MPI_COMM_WORLD, settings_in(dir.path(), 1), "job", identity(3), {{"P", world_size()}});
    save(hook, 5);
  }
  Checkpointer other(MPI_COMM_WORLD, settings_in(dir.path(), 1), "job", identity(4), {{"P", world_size()}});
  try {
    restore_from(other);
    ADD_FAILURE() << "resumed from another run's checkpoint";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("its k is 3, this run's is 4"), std::string::npos) << e.what();
  }
  // Another job (family) finds nothing and starts afresh.
  Checkpointer fresh(MPI_COMM_WORLD, settings_in(dir.path(), 1), "other", identity(3), {{"P", world_size()}});
  EXPECT_FALSE(restore_from(fresh).found);
}

TEST(Checkpointer, AFailedWriteIsAWarningAndKeepsThePreviousCheckpoints) {
  SharedTempDir dir;
  Checkpointer hook(MPI_COMM_WORLD, settings_in(dir.path(), 1), "job", identity(3), {{"P", world_size()}});
  save(hook, 5);
  ASSERT_EQ(hook.checkpoints_written(), 1);
  // A full disk, simulated: every write of a checkpoint file comes up short on the last rank.
  const bool cut_short = world_rank() == world_size() - 1;
  testing::set_write_at_function(
      [cut_short](MPI_File file, MPI_Offset offset, const char* buffer, int count, MPI_Status* status) {
        return MPI_File_write_at(file, offset, buffer, cut_short ? count / 2 : count, MPI_BYTE, status);
      });
  save(hook, 10);  // no throw: the run goes on
  testing::set_write_at_function({});
  EXPECT_EQ(hook.checkpoints_written(), 1);
  const std::vector<std::string> kept = list_checkpoints(MPI_COMM_WORLD, dir.path(), "job-it");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(std::filesystem::path(kept[0]).filename(), "job-it000000005");
  if (world_rank() == 0)
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
      EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

TEST(Checkpointer, ASignalCaughtOnOneRankStopsEveryRank) {
  install_stop_signal_handlers();
  reset_caught_stop_signal();
  CheckpointSettings settings;  // no checkpoints: signals only
  Checkpointer hook(MPI_COMM_WORLD, settings, "job", {}, {});
  EXPECT_EQ(hook.stop_requested(1), std::nullopt);
  if (world_rank() == world_size() - 1) std::raise(SIGUSR1);
  EXPECT_EQ(hook.stop_requested(2), std::optional<std::string>("interrupted"));
  EXPECT_TRUE(stopped_by_signal());
  reset_caught_stop_signal();
  EXPECT_EQ(hook.stop_requested(3), std::nullopt);
}

}  // namespace
}  // namespace nmf::test
