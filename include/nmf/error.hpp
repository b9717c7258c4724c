// Exceptions of libnmf. Every error carries the source location that raised it (as SLATE's do), so a
// report from a run on thousands of ranks points at the code, while the message itself speaks to the user.
#pragma once

#include <stdexcept>
#include <string>

namespace nmf {

// Exit codes of nmf_mpi: one per kind of failure, so batch scripts can tell a typo from a broken file.
enum class ExitCode : int {
  success = 0,
  failure = 1,        // numerical or internal failure
  usage = 2,          // bad command line or configuration
  bad_input = 3,      // unreadable or malformed input data
  output_error = 4,   // cannot write the results
  out_of_memory = 5,  // an allocation failed on some rank
  too_large = 6,      // a count or size exceeds a 32-bit interface (MPI counts, LP64 BLAS): use more ranks
  mpi_error = 7,      // an MPI call failed (a network or launcher problem, or a rank died)
  interrupted = 8     // stopped by SIGTERM or SIGUSR1: checkpoint and outputs written; continue with --resume
};

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* source_file, int source_line, ExitCode code = ExitCode::failure)
      : std::runtime_error(message), source_file_(source_file), source_line_(source_line), code_(code) {}

  const char* source_file() const noexcept { return source_file_; }
  int source_line() const noexcept { return source_line_; }
  ExitCode code() const noexcept { return code_; }

 private:
  const char* source_file_;
  int source_line_;
  ExitCode code_;
};

// Bad command line or parameter values.
class UsageError : public Error {
 public:
  UsageError(const std::string& message, const char* source_file, int source_line)
      : Error(message, source_file, source_line, ExitCode::usage) {}
};

// Malformed or unreadable input; the message names the file and, where there is one, the line.
class InputError : public Error {
 public:
  InputError(const std::string& message, const char* source_file, int source_line)
      : Error(message, source_file, source_line, ExitCode::bad_input) {}
};

// Results could not be written.
class OutputError : public Error {
 public:
  OutputError(const std::string& message, const char* source_file, int source_line)
      : Error(message, source_file, source_line, ExitCode::output_error) {}
};

// A count or dimension too large for the 32-bit interfaces of MPI or BLAS.
class TooLargeError : public Error {
 public:
  TooLargeError(const std::string& message, const char* source_file, int source_line)
      : Error(message, source_file, source_line, ExitCode::too_large) {}
};

// An MPI call returned an error.
class MpiError : public Error {
 public:
  MpiError(const std::string& message, const char* source_file, int source_line)
      : Error(message, source_file, source_line, ExitCode::mpi_error) {}
};

// An error that every rank of a communicator agreed on (see nmf::collectively). Thrown on all ranks
// with the message of the first rank that failed; `origin_rank` says which one.
class CollectiveError : public Error {
 public:
  CollectiveError(const std::string& message, ExitCode code, int origin_rank, const char* source_file, int source_line)
      : Error(message, source_file, source_line, code), origin_rank_(origin_rank) {}
  int origin_rank() const noexcept { return origin_rank_; }

 private:
  int origin_rank_;
};

}  // namespace nmf

#define NMF_THROW(ExceptionType, message) throw ExceptionType((message), __FILE__, __LINE__)

// For a failure decided on data every rank holds identically (replicated sizes, all-reduced sums): every
// rank throws the same CollectiveError at the same point without communicating. Never use it for a
// decision only some ranks can make; those go through nmf::collectively.
#define NMF_THROW_REPLICATED(exit_code, message) \
  throw ::nmf::CollectiveError((message), (exit_code), 0, __FILE__, __LINE__)

#define NMF_REQUIRE(condition, ExceptionType, message)   \
  do {                                                   \
    if (!(condition)) NMF_THROW(ExceptionType, message); \
  } while (false)
