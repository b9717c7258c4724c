#include "nmf/mpi.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <thread>
#include <vector>

namespace nmf {

namespace detail {
void throw_mpi_error(int code, const char* call, const char* source_file, int source_line) {
  throw MpiError(std::string(call) + " failed: " + mpi_error_text(code), source_file, source_line);
}
}  // namespace detail

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(length));
}

int rank_in(MPI_Comm comm) {
  int rank = 0;
  NMF_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  return rank;
}

namespace {
// FNV-1a: enough to tell whether ranks were given different texts; not a defence against crafted input.
std::uint64_t text_hash(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}
}  // namespace

int first_rank_differing_from_root(MPI_Comm comm, const std::string& text) {
  const std::uint64_t mine = text_hash(text);
  std::uint64_t root = mine;
  NMF_MPI_CHECK(MPI_Bcast(&root, 1, MPI_UINT64_T, 0, comm));
  const int candidate = mine != root ? rank_in(comm) : std::numeric_limits<int>::max();
  int first = 0;
  NMF_MPI_CHECK(MPI_Allreduce(&candidate, &first, 1, MPI_INT, MPI_MIN, comm));
  return first == std::numeric_limits<int>::max() ? -1 : first;
}

int size_of(MPI_Comm comm) {
  int size = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &size));
  return size;
}

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
  return rank_in(comm_);
}

int Comm::size() const {
  return size_of(comm_);
}

LocalFailure describe_current_exception() {
  try {
    throw;
  } catch (const CollectiveError& e) {
    return {e.what(), e.code(), e.origin_rank()};
  } catch (const Error& e) {
    return {e.what(), e.code(), -1};
  } catch (const std::bad_alloc&) {
    return {"out of memory on this rank; use more ranks or a machine with more memory per rank",
            ExitCode::out_of_memory, -1};
  } catch (const std::exception& e) {
    return {e.what(), ExitCode::failure, -1};
  } catch (...) {
    return {"unknown exception", ExitCode::failure, -1};
  }
}

namespace {

struct FailedRank {  // MPI_2INT
  int failed;
  int rank;
};

// After the MAXLOC reduction: the first failing rank broadcasts its failure and every rank throws it.
[[noreturn]] void throw_agreed(MPI_Comm comm, int my_rank, const FailedRank& first,
                               const std::optional<LocalFailure>& failure);

}  // namespace

void agree_on_failure(MPI_Comm comm, const std::optional<LocalFailure>& failure) {
  const int my_rank = rank_in(comm);
  FailedRank mine{failure ? 1 : 0, my_rank}, first{0, 0};
  NMF_MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_2INT, MPI_MAXLOC, comm));
  if (first.failed) throw_agreed(comm, my_rank, first, failure);
}

namespace {

void throw_agreed(MPI_Comm comm, int my_rank, const FailedRank& first, const std::optional<LocalFailure>& failure) {
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

}  // namespace

FailureAgreement::FailureAgreement(MPI_Comm comm) : comm_(Comm::duplicate(comm)) {}

void FailureAgreement::agree(const std::optional<LocalFailure>& failure, double timeout_seconds) {
  const int my_rank = comm_.rank();
  FailedRank mine{failure ? 1 : 0, my_rank}, first{0, 0};
  MPI_Request request = MPI_REQUEST_NULL;
  NMF_MPI_CHECK(MPI_Iallreduce(&mine, &first, 1, MPI_2INT, MPI_MAXLOC, comm_.get(), &request));
  // A rank whose failure the others do not know of may wait for ranks that are blocked in a collective it left:
  // it waits a bounded time, then aborts the job with its message. Every other rank waits for all to arrive.
  const bool bounded = failure.has_value();
  const double deadline = MPI_Wtime() + timeout_seconds;
  int done = 0;
  while (!done) {
    NMF_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) break;
    if (bounded && MPI_Wtime() > deadline) abort_unagreed(*failure, my_rank, timeout_seconds);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (first.failed) throw_agreed(comm_.get(), my_rank, first, failure);
}

void abort_unagreed(const LocalFailure& failure, int rank, double waited_seconds) {
  std::fprintf(stderr,
               "nmf_mpi: error: rank %d: %s\nnmf_mpi: the other ranks did not join the failure agreement within %.0f s "
               "(they wait in a collective this rank left), so the job is aborted\n",
               rank, failure.message.c_str(), waited_seconds);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, static_cast<int>(failure.code));
  std::_Exit(static_cast<int>(failure.code));
}

}  // namespace nmf
