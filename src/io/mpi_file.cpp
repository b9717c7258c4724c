#include "nmf/io/mpi_file.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>

#include "nmf/mpi.hpp"

namespace nmf {

namespace {

testing::WriteAtFunction& write_at_override() {
  static testing::WriteAtFunction function;
  return function;
}

int write_at_call(MPI_File file, MPI_Offset offset, const char* buffer, int count, MPI_Status* status) {
  if (write_at_override()) return write_at_override()(file, offset, buffer, count, status);
  return MPI_File_write_at(file, offset, buffer, count, MPI_BYTE, status);
}

// Why a write came up short. MPI-IO gives no errno for it, so ask the file system whether it is full;
// otherwise the likely causes are a quota or a file size limit.
std::string short_write_reason(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  struct statvfs fs {};
  if (::statvfs(parent.empty() ? "." : parent.c_str(), &fs) == 0 && fs.f_bavail == 0) return "no space left on device";
  return "the file system accepted fewer bytes than asked (disk full, quota or file size limit)";
}

}  // namespace

namespace testing {
void set_write_at_function(WriteAtFunction function) {
  write_at_override() = std::move(function);
}
}  // namespace testing

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
  if (handle_ == MPI_FILE_NULL) return;
  const int rc = MPI_File_close(&handle_);
  if (rc != MPI_SUCCESS) NMF_THROW(OutputError, "cannot close '" + path_ + "': " + mpi_error_text(rc));
}

void MpiFile::sync() {
  const int rc = MPI_File_sync(handle_);
  if (rc != MPI_SUCCESS) NMF_THROW(OutputError, "cannot flush '" + path_ + "' to disk: " + mpi_error_text(rc));
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
    const int rc = write_at_call(handle_, offset, buffer, count, &status);
    if (rc != MPI_SUCCESS)
      NMF_THROW(OutputError,
                "cannot write '" + path_ + "' at byte " + std::to_string(offset) + ": " + mpi_error_text(rc));
    int written = 0;
    NMF_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &written));
    // No retry of the rest: MPI-IO already loops over partial POSIX writes, so a short count is final.
    if (written != count)
      NMF_THROW(OutputError, "cannot write '" + path_ + "': " + short_write_reason(path_) + " (wrote " +
                                 std::to_string(std::max(written, 0)) + " of " + std::to_string(count) +
                                 " bytes at byte " + std::to_string(offset) + ")");
    offset += count;
    buffer += count;
    bytes -= count;
  }
}

}  // namespace nmf
