// An MPI-IO file handle with RAII and checked calls.
#pragma once

#include <mpi.h>

#include <functional>
#include <string>

#include "nmf/types.hpp"

namespace nmf {

class MpiFile {
 public:
  // Collective over `comm`. `amode` as for MPI_File_open. When the file cannot be opened, the ranks
  // agree and all throw CollectiveError (InputError for reading, OutputError for writing) naming the path.
  MpiFile(MPI_Comm comm, const std::string& path, int amode);
  MpiFile(const MpiFile&) = delete;
  MpiFile& operator=(const MpiFile&) = delete;
  ~MpiFile();

  MPI_File get() const { return handle_; }
  const std::string& path() const { return path_; }
  index_t size() const;

  // Independent read of exactly `bytes` bytes at `offset` (several MPI calls for more than 1 GiB).
  void read_at(index_t offset, char* buffer, index_t bytes) const;
  // Independent write of exactly `bytes` bytes at `offset` (several MPI calls for more than 1 GiB).
  // Local: throws OutputError naming the file when a call fails or writes fewer bytes than asked (Open
  // MPI 4.1 reports success for a write cut short by a full disk; only the status's count shows it).
  void write_at(index_t offset, const char* buffer, index_t bytes) const;
  // Collective: flushes the written data to the storage device (MPI_File_sync). Throws OutputError.
  void sync();
  // Collective close; the destructor closes too, but cannot report errors.
  void close();

 private:
  MPI_File handle_ = MPI_FILE_NULL;
  std::string path_;
};

namespace testing {
// Test seam: when set, MpiFile::write_at calls this instead of MPI_File_write_at, with the same contract
// (it may write fewer bytes than asked and say so in the status, as a full disk does). Tests set it to
// simulate a short write; pass an empty function to restore the real call. Not thread-safe.
using WriteAtFunction =
    std::function<int(MPI_File file, MPI_Offset offset, const char* buffer, int count, MPI_Status* status)>;
void set_write_at_function(WriteAtFunction function);
}  // namespace testing

}  // namespace nmf
