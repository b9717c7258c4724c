#include "verified_write.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace nmf::detail {

std::uint32_t crc32_of(const char* data, index_t bytes) {
  return static_cast<std::uint32_t>(
      crc32_z(crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(data), static_cast<z_size_t>(bytes)));
}

void WrittenRanges::add(index_t offset, const char* data, index_t bytes) {
  if (bytes <= 0) return;
  const std::uint32_t crc = crc32_of(data, bytes);
  if (!ranges_.empty() && ranges_.back().offset + ranges_.back().bytes == offset) {
    Range& last = ranges_.back();
    last.crc32 = static_cast<std::uint32_t>(crc32_combine(last.crc32, crc, static_cast<z_off_t>(bytes)));
    last.bytes += bytes;
  } else {
    ranges_.push_back({offset, bytes, crc});
  }
}

namespace {

// Every rank's ranges, on rank 0 (offset, bytes, crc as three int64 each).
std::vector<WrittenRanges::Range> gather_ranges(MPI_Comm comm, const WrittenRanges& mine) {
  int rank = 0, size = 0;
  NMF_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  NMF_MPI_CHECK(MPI_Comm_size(comm, &size));
  std::vector<std::int64_t> flat;
  for (const auto& r : mine.ranges()) flat.insert(flat.end(), {r.offset, r.bytes, std::int64_t{r.crc32}});
  const int count = mpi_count(static_cast<index_t>(flat.size()), "written ranges");
  std::vector<int> counts(rank == 0 ? static_cast<std::size_t>(size) : 0), displacements(counts.size(), 0);
  NMF_MPI_CHECK(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm));
  index_t total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    displacements[r] = mpi_count(total, "written ranges");
    total += counts[r];
  }
  std::vector<std::int64_t> all(static_cast<std::size_t>(total));
  NMF_MPI_CHECK(MPI_Gatherv(flat.data(), count, MPI_INT64_T, all.data(), counts.data(), displacements.data(),
                            MPI_INT64_T, 0, comm));
  std::vector<WrittenRanges::Range> ranges;
  for (std::size_t i = 0; i + 2 < all.size(); i += 3)
    ranges.push_back({all[i], all[i + 1], static_cast<std::uint32_t>(all[i + 2])});
  return ranges;
}

// Rank 0: the ranges, sorted, must cover [0, file_size) exactly once; their CRCs combine in file order.
FileChecksum combine_ranges(std::vector<WrittenRanges::Range> ranges, index_t file_size, const std::string& path) {
  std::sort(ranges.begin(), ranges.end(), [](const auto& x, const auto& y) { return x.offset < y.offset; });
  FileChecksum file;
  file.crc32 = static_cast<std::uint32_t>(crc32_z(0L, Z_NULL, 0));
  for (const auto& r : ranges) {
    if (r.offset != file.bytes)
      NMF_THROW(OutputError, "cannot write '" + path + "': the ranks' writes " +
                                 (r.offset > file.bytes ? "leave a gap" : "overlap") + " at byte " +
                                 std::to_string(std::min(r.offset, file.bytes)));
    file.crc32 = static_cast<std::uint32_t>(crc32_combine(file.crc32, r.crc32, static_cast<z_off_t>(r.bytes)));
    file.bytes += r.bytes;
  }
  if (file.bytes != file_size)
    NMF_THROW(OutputError, "cannot write '" + path + "': the ranks wrote " + std::to_string(file.bytes) +
                               " bytes but the file has " + std::to_string(file_size));
  return file;
}

}  // namespace

FileChecksum checksum_written_file(MPI_Comm comm, const MpiFile& file, const WrittenRanges& mine) {
  int rank = 0;
  NMF_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  const std::vector<WrittenRanges::Range> ranges = gather_ranges(comm, mine);
  FileChecksum checksum;
  collectively(comm, [&] {
    if (rank == 0) checksum = combine_ranges(ranges, file.size(), file.path());
  });
  NMF_MPI_CHECK(MPI_Bcast(&checksum.bytes, 1, MPI_INT64_T, 0, comm));
  NMF_MPI_CHECK(MPI_Bcast(&checksum.crc32, 1, MPI_UINT32_T, 0, comm));
  return checksum;
}

namespace {

// Closes a POSIX file descriptor on scope exit unless released (error paths).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

[[noreturn]] void throw_system_error(const std::string& what, const std::string& path) {
  NMF_THROW(OutputError, "cannot " + what + " '" + path + "': " + std::strerror(errno));
}

}  // namespace

FileChecksum write_text_file_durably(const std::string& path, const std::string& text) {
  FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw_system_error("create", path);
  const char* next = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t written = ::write(fd.get(), next, left);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) throw_system_error("write", path);
    if (written == 0) {  // not expected for a regular file; never loop on it
      errno = ENOSPC;
      throw_system_error("write", path);
    }
    next += written;
    left -= static_cast<std::size_t>(written);
  }
  if (::fsync(fd.get()) != 0) throw_system_error("flush to disk", path);
  if (::close(fd.release()) != 0) throw_system_error("close", path);
  return {static_cast<index_t>(text.size()), crc32_of(text.data(), static_cast<index_t>(text.size()))};
}

}  // namespace nmf::detail
