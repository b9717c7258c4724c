#include "nmf/io/mpi_file.hpp"

#include <algorithm>

#include "nmf/mpi.hpp"

namespace nmf {

MpiFile::MpiFile(MPI_Comm comm, const std::string& path, int amode) : path_(path) {
  const int rc = MPI_File_open(comm, path.c_str(), amode, MPI_INFO_NULL, &handle_);
  const bool writing = (amode & (MPI_MODE_WRONLY | MPI_MODE_RDWR)) != 0;
  std::optional<LocalFailure> failure;
  if (rc != MPI_SUCCESS) {
    handle_ = MPI_FILE_NULL;
    failure =
        LocalFailure{"cannot open '" + path + "' for " + (writing ? "writing" : "reading") + ": " + mpi_error_text(rc),
                     writing ? ExitCode::output_error : ExitCode::bad_input, -1};
  }
  agree_on_failure(comm, failure);
  NMF_MPI_CHECK(MPI_File_set_errhandler(handle_, MPI_ERRORS_RETURN));
}

MpiFile::~MpiFile() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (handle_ != MPI_FILE_NULL && !finalized) MPI_File_close(&handle_);
}

void MpiFile::close() {
  if (handle_ != MPI_FILE_NULL) NMF_MPI_CHECK(MPI_File_close(&handle_));
}

index_t MpiFile::size() const {
  MPI_Offset bytes = 0;
  NMF_MPI_CHECK(MPI_File_get_size(handle_, &bytes));
  return static_cast<index_t>(bytes);
}

void MpiFile::read_at(index_t offset, char* buffer, index_t bytes) const {
  constexpr index_t kMaxPerCall = index_t{1} << 30;
  while (bytes > 0) {
    const int count = static_cast<int>(std::min(bytes, kMaxPerCall));
    MPI_Status status;
    NMF_MPI_CHECK(MPI_File_read_at(handle_, offset, buffer, count, MPI_BYTE, &status));
    int got = 0;
    NMF_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &got));
    if (got <= 0) NMF_THROW(InputError, path_ + ": unexpected end of file at byte " + std::to_string(offset));
    offset += got;
    buffer += got;
    bytes -= got;
  }
}

void MpiFile::write_at(index_t offset, const char* buffer, index_t bytes) const {
  constexpr index_t kMaxPerCall = index_t{1} << 30;
  while (bytes > 0) {
    const int count = static_cast<int>(std::min(bytes, kMaxPerCall));
    MPI_Status status;
    NMF_MPI_CHECK(MPI_File_write_at(handle_, offset, buffer, count, MPI_BYTE, &status));
    offset += count;
    buffer += count;
    bytes -= count;
  }
}

}  // namespace nmf
