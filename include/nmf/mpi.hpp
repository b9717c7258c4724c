// MPI helpers: checked calls, an owning communicator, datatypes for C++ types, and the agreement on
// failures that keeps a run from hanging when one rank hits an error.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "nmf/error.hpp"

namespace nmf {

namespace detail {
[[noreturn]] void throw_mpi_error(int code, const char* call, const char* source_file, int source_line);
}

std::string mpi_error_text(int code);
int rank_in(MPI_Comm comm);
int size_of(MPI_Comm comm);

// Every MPI call in libnmf goes through this. Communicators made by libnmf use MPI_ERRORS_RETURN, so
// a failing call becomes an nmf::Error here instead of an abort deep inside the library.
#define NMF_MPI_CHECK(call)                                                                                 \
  do {                                                                                                      \
    const int nmf_mpi_rc_ = (call);                                                                         \
    if (nmf_mpi_rc_ != MPI_SUCCESS) ::nmf::detail::throw_mpi_error(nmf_mpi_rc_, #call, __FILE__, __LINE__); \
  } while (false)

// Collective over `comm`: the lowest rank whose `text` differs from rank 0's, or -1 when every rank has the
// same (compared by a 64-bit hash: one broadcast and one small all-reduce, never the text itself).
int first_rank_differing_from_root(MPI_Comm comm, const std::string& text);

// Owns a communicator and frees it on destruction; or borrows one (MPI_COMM_WORLD, a caller's
// communicator) without freeing it. Move-only.
class Comm {
 public:
  Comm() = default;
  static Comm borrow(MPI_Comm comm) { return Comm(comm, false); }
  static Comm own(MPI_Comm comm) { return Comm(comm, true); }
  // A duplicate of `comm` with MPI_ERRORS_RETURN, owned: libnmf's traffic never mixes with the caller's.
  static Comm duplicate(MPI_Comm comm);

  Comm(Comm&& other) noexcept { *this = std::move(other); }
  Comm& operator=(Comm&& other) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm() { release(); }

  MPI_Comm get() const { return comm_; }
  int rank() const;
  int size() const;
  bool valid() const { return comm_ != MPI_COMM_NULL; }

 private:
  Comm(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {}
  void release() noexcept;
  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;
};

// Owns a committed derived datatype.
class Datatype {
 public:
  explicit Datatype(MPI_Datatype type) : type_(type) {}
  Datatype(const Datatype&) = delete;
  Datatype& operator=(const Datatype&) = delete;
  ~Datatype() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (type_ != MPI_DATATYPE_NULL && !finalized) MPI_Type_free(&type_);
  }
  MPI_Datatype get() const { return type_; }

 private:
  MPI_Datatype type_;
};

template <class T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same_v<T, double>)
    return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, float>)
    return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return MPI_INT32_T;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return MPI_UINT8_T;
  else if constexpr (std::is_same_v<T, char>)
    return MPI_CHAR;
  else
    static_assert(sizeof(T) == 0, "no MPI datatype for this type");
}

// What a rank knows of its own failure before the ranks agree.
struct LocalFailure {
  std::string message;
  ExitCode code = ExitCode::failure;
  int origin_rank = -1;  // set when the failure was itself already agreed elsewhere
};

// Turns the exception in flight into a LocalFailure. Call only inside a catch block.
LocalFailure describe_current_exception();

// The agreement (SLATE-style): every rank of `comm` calls this at the same point. If any rank passes a
// failure, all ranks throw the same CollectiveError, carrying the message of the lowest-numbered
// failing rank (an MPI_MAXLOC reduction picks it, a broadcast spreads its message). Costs one small
// allreduce when nothing failed.
void agree_on_failure(MPI_Comm comm, const std::optional<LocalFailure>& failure);

// How long a rank with a failure the others may not know of waits for them to agree (FailureAgreement).
constexpr double kUnagreedFailureSeconds = 10.0;

// The agreement for failures that escape `collectively`: an MPI error, an allocation that failed outside it, a
// count too large for MPI, on some ranks only or on all. It runs on its own duplicate of the communicator, so
// it never matches a collective of the computation. Every rank calls agree() once at the same point (the end
// of a job, the end of the run): ranks with nothing to report wait for everyone; a rank with a failure (which
// some ranks may not share: only its subgroup agreed on it, or nobody) waits at most `timeout_seconds`, since
// the others may be blocked in a collective it left, and then aborts the job with its message and rank
// (abort_unagreed). If every rank arrives, all throw the same CollectiveError with the first failing rank's message and
// exit code.
class FailureAgreement {
 public:
  explicit FailureAgreement(MPI_Comm comm);
  void agree(const std::optional<LocalFailure>& failure, double timeout_seconds = kUnagreedFailureSeconds);

 private:
  Comm comm_;
};

// Prints "rank R: message" and why the job is aborted, then MPI_Abort with the failure's exit code.
[[noreturn]] void abort_unagreed(const LocalFailure& failure, int rank, double waited_seconds);

// Runs `body`, which must be purely local (no collective calls), on every rank, then agrees on
// failures: if it threw on any rank, it throws CollectiveError on all of them. This is how every
// phase that can fail on one rank (parsing, validation, file checks) ends before the next collective.
template <class Body>
auto collectively(MPI_Comm comm, Body&& body) -> decltype(body()) {
  using Result = decltype(body());
  std::optional<LocalFailure> failure;
  if constexpr (std::is_void_v<Result>) {
    try {
      body();
    } catch (...) {
      failure = describe_current_exception();
    }
    agree_on_failure(comm, failure);
  } else {
    std::optional<Result> result;
    try {
      result.emplace(body());
    } catch (...) {
      failure = describe_current_exception();
    }
    agree_on_failure(comm, failure);
    return std::move(*result);
  }
}

}  // namespace nmf
