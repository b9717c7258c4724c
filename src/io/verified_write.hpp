// Internal to src/io: writing a file so that every byte is accounted for. Each rank records the byte
// ranges it wrote with their CRC-32 (zlib); rank 0 of the writers checks that the ranges of all ranks
// tile the file exactly and combines their CRCs in file order (zlib's crc32_combine), so the file's
// checksum is known without any rank reading the file back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nmf/io/mpi_file.hpp"
#include "nmf/mpi.hpp"

namespace nmf::detail {

// A file as written: its size and CRC-32 (of all its bytes, as zlib's crc32 computes it).
struct FileChecksum {
  index_t bytes = 0;
  std::uint32_t crc32 = 0;
};

// CRC-32 of a byte string (zlib).
std::uint32_t crc32_of(const char* data, index_t bytes);

// The contiguous byte ranges one rank wrote to one file, each with its CRC-32. Adjacent writes merge.
class WrittenRanges {
 public:
  struct Range {
    index_t offset = 0;
    index_t bytes = 0;
    std::uint32_t crc32 = 0;
  };
  void add(index_t offset, const char* data, index_t bytes);
  const std::vector<Range>& ranges() const { return ranges_; }

 private:
  std::vector<Range> ranges_;
};

// Writes through an MpiFile (verified counts) and records what it wrote.
class RecordingWriter {
 public:
  explicit RecordingWriter(const MpiFile& file) : file_(file) {}
  void write_at(index_t offset, const char* data, index_t bytes) {
    file_.write_at(offset, data, bytes);
    written_.add(offset, data, bytes);
  }
  const WrittenRanges& written() const { return written_; }

 private:
  const MpiFile& file_;
  WrittenRanges written_;
};

// Collective over `comm`: creates `path` (truncated), lets every rank write its part through a
// RecordingWriter (write_part is local), flushes the data to disk, checks that the ranks' ranges tile
// the file with no gap or overlap, and closes it. Returns the file's size and CRC-32 on every rank.
// Every failure is agreed: CollectiveError (output_error) naming the file. Does not remove `path` on
// failure: the caller owns it.
template <class WritePart>
FileChecksum write_verified_file(MPI_Comm comm, const std::string& path, WritePart&& write_part);

// Collective: the part of write_verified_file after the writes (tiling check, checksum, agreed).
FileChecksum checksum_written_file(MPI_Comm comm, const MpiFile& file, const WrittenRanges& mine);

// Collective: a collective MPI-IO call (sync, close) on every rank, its failure agreed.
template <class Call>
void agreed_collective_call(MPI_Comm comm, Call&& call) {
  std::optional<LocalFailure> failure;
  try {
    call();
  } catch (...) {
    failure = describe_current_exception();
  }
  agree_on_failure(comm, failure);
}

template <class WritePart>
FileChecksum write_verified_file(MPI_Comm comm, const std::string& path, WritePart&& write_part) {
  MpiFile file(comm, path, MPI_MODE_CREATE | MPI_MODE_WRONLY);
  NMF_MPI_CHECK(MPI_File_set_size(file.get(), 0));
  RecordingWriter writer(file);
  collectively(comm, [&] { write_part(writer); });
  agreed_collective_call(comm, [&] { file.sync(); });  // the data is on disk before any rename
  const FileChecksum checksum = checksum_written_file(comm, file, writer.written());
  agreed_collective_call(comm, [&] { file.close(); });
  return checksum;
}

// Local: writes `text` to `path` (created or truncated) with POSIX calls, checking every write, the
// fsync and the close. Throws OutputError naming the file and the system's reason.
FileChecksum write_text_file_durably(const std::string& path, const std::string& text);

}  // namespace nmf::detail
