#include "nmf/mpi.hpp"

#include <new>
#include <vector>

namespace nmf {

namespace detail {
void throw_mpi_error(int code, const char* call, const char* source_file, int source_line) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  throw Error(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(length)), source_file,
              source_line);
}
}  // namespace detail

Comm Comm::duplicate(MPI_Comm comm) {
  MPI_Comm copy = MPI_COMM_NULL;
  NMF_MPI_CHECK(MPI_Comm_dup(comm, &copy));
  NMF_MPI_CHECK(MPI_Comm_set_errhandler(copy, MPI_ERRORS_RETURN));
  return own(copy);
}

Comm& Comm::operator=(Comm&& other) noexcept {
  if (this != &other) {
    release();
    comm_ = other.comm_;
    owned_ = other.owned_;
    other.comm_ = MPI_COMM_NULL;
    other.owned_ = false;
  }
  return *this;
}

void Comm::release() noexcept {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owned_ && comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
  owned_ = false;
}

int Comm::rank() const {
  int value = 0;
  NMF_MPI_CHECK(MPI_Comm_rank(comm_, &value));
  return value;
}

int Comm::size() const {
  int value = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm_, &value));
  return value;
}

LocalFailure describe_current_exception() {
  try {
    throw;
  } catch (const CollectiveError& e) {
    return {e.what(), e.code(), e.origin_rank()};
  } catch (const Error& e) {
    return {e.what(), e.code(), -1};
  } catch (const std::bad_alloc&) {
    return {"out of memory on this rank; use more ranks or a machine with more memory per rank", ExitCode::failure, -1};
  } catch (const std::exception& e) {
    return {e.what(), ExitCode::failure, -1};
  } catch (...) {
    return {"unknown exception", ExitCode::failure, -1};
  }
}

void agree_on_failure(MPI_Comm comm, const std::optional<LocalFailure>& failure) {
  int my_rank = 0;
  NMF_MPI_CHECK(MPI_Comm_rank(comm, &my_rank));
  struct {
    int failed;
    int rank;
  } mine{failure ? 1 : 0, my_rank}, first{0, 0};
  NMF_MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_2INT, MPI_MAXLOC, comm));
  if (!first.failed) return;

  // Ties in MAXLOC go to the lowest index, so `first.rank` is the lowest-numbered failing rank.
  const int root = first.rank;
  std::int64_t header[3] = {0, 0, -1};
  std::string message;
  if (my_rank == root) {
    message = failure->message;
    header[0] = static_cast<std::int64_t>(message.size());
    header[1] = static_cast<std::int64_t>(failure->code);
    header[2] = failure->origin_rank >= 0 ? failure->origin_rank : root;
  }
  NMF_MPI_CHECK(MPI_Bcast(header, 3, MPI_INT64_T, root, comm));
  message.resize(static_cast<std::size_t>(header[0]));
  if (header[0] > 0) NMF_MPI_CHECK(MPI_Bcast(message.data(), static_cast<int>(header[0]), MPI_CHAR, root, comm));
  throw CollectiveError(message, static_cast<ExitCode>(header[1]), static_cast<int>(header[2]), __FILE__, __LINE__);
}

}  // namespace nmf
