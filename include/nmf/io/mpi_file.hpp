// An MPI-IO file handle with RAII and checked calls.
#pragma once

#include <mpi.h>

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
  // Independent write of `bytes` bytes at `offset` (several MPI calls for more than 1 GiB).
  void write_at(index_t offset, const char* buffer, index_t bytes) const;
  // Collective close; the destructor closes too, but cannot report errors.
  void close();

 private:
  MPI_File handle_ = MPI_FILE_NULL;
  std::string path_;
};

}  // namespace nmf
