#include "nmf/cli/app.hpp"

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "nmf/driver/run.hpp"
#include "nmf/mpi.hpp"
#include "nmf/options.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

namespace {

// Parses and validates the command line on every rank; the ranks agree on a usage error. Ranks started with
// different arguments or --config texts (an MPMD launch, a config file that differs between nodes) are
// refused: they would write to different prefixes or wait in different collectives.
CommandLine read_command_line(int argc, const char* const* argv, MPI_Comm comm) {
  CommandLine cli = collectively(comm, [&] {
    CommandLine parsed = parse_command_line(argc, argv);
    if (parsed.action == CommandLine::Action::run) validate_options(parsed.options);
    return parsed;
  });
  const int differing = first_rank_differing_from_root(comm, cli.fingerprint);
  if (differing >= 0)
    NMF_THROW_REPLICATED(ExitCode::usage, "rank " + std::to_string(differing) +
                                              " was started with other options than rank 0 (its arguments or its "
                                              "--config file differ); every rank must be given the same options");
  return cli;
}

void run_command(int argc, const char* const* argv, MPI_Comm comm) {
  const CommandLine cli = read_command_line(argc, argv, comm);
  const bool root = rank_in(comm) == 0;
  switch (cli.action) {
    case CommandLine::Action::help:
      if (root) std::cout << cli.help_text << std::flush;
      return;
    case CommandLine::Action::version:
      if (root) std::cout << "nmf_mpi " << version_string() << std::endl;
      return;
    case CommandLine::Action::solver_table:
      if (root) std::cout << solver_table_markdown() << std::flush;
      return;
    case CommandLine::Action::run:
      run_factorization(cli.options, comm);
      return;
  }
}

}  // namespace

int run_nmf_mpi(int argc, const char* const* argv, MPI_Comm world) {
  Comm comm = Comm::duplicate(world);
  FailureAgreement agreement(world);  // its own communicator: never matched against a computation's collective
  std::optional<LocalFailure> failure;
  try {
    run_command(argc, argv, comm.get());
  } catch (...) {
    failure = describe_current_exception();
  }
  try {
    agreement.agree(failure);
  } catch (const CollectiveError& e) {
    // Every rank is here with the same message; one prints it.
    if (comm.rank() == 0)
      std::fprintf(stderr, "nmf_mpi: %s: %s\n", e.code() == ExitCode::interrupted ? "stopped" : "error", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}

}  // namespace nmf
