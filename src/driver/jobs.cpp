#include "nmf/driver/jobs.hpp"

#include <climits>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "nmf/distribution/collectives.hpp"
#include "nmf/kernels/random.hpp"

namespace nmf {

SubGroups split_into_groups(MPI_Comm world, int groups) {
  int ranks = 0, rank = 0;
  NMF_MPI_CHECK(MPI_Comm_size(world, &ranks));
  NMF_MPI_CHECK(MPI_Comm_rank(world, &rank));
  if (groups < 1 || ranks % groups != 0)
    NMF_THROW_REPLICATED(ExitCode::usage, "--groups " + std::to_string(groups) + " does not divide the " +
                                              std::to_string(ranks) + " ranks into equal subgroups");
  SubGroups g;
  g.count = groups;
  const int size = ranks / groups;
  g.index = rank / size;
  MPI_Comm comm = MPI_COMM_NULL;
  NMF_MPI_CHECK(MPI_Comm_split(world, g.index, rank, &comm));
  NMF_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  g.group = Comm::own(comm);
  NMF_MPI_CHECK(MPI_Comm_split(world, rank % size == 0 ? 0 : MPI_UNDEFINED, rank, &comm));
  if (comm != MPI_COMM_NULL) {
    NMF_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    g.leaders = Comm::own(comm);
  }
  return g;
}

std::uint64_t restart_seed(std::uint64_t seed, int restart) {
  if (restart == 0) return seed;
  const auto bits = [&](std::uint32_t lane) {
    return static_cast<std::uint64_t>(
        uniform01(seed, RandomStream::restart, static_cast<std::uint64_t>(restart), lane) * 4294967296.0);
  };
  // 53 bits: exact in the summary for every JSON reader, doubles (jq, JavaScript) included.
  return ((bits(0) << 32) | bits(1)) & ((std::uint64_t{1} << 53) - 1);
}

namespace {

constexpr int kNumbersPerOutcome = 8;

// Every rank gets the concatenation of what every rank contributes (leaders contribute, others give nothing).
template <class T>
std::vector<T> gather_everywhere(MPI_Comm world, const std::vector<T>& mine, MPI_Datatype type) {
  std::vector<index_t> counts(static_cast<std::size_t>(size_of(world)));
  const auto count = static_cast<index_t>(mine.size());
  NMF_MPI_CHECK(MPI_Allgather(&count, 1, MPI_INT64_T, counts.data(), 1, MPI_INT64_T, world));
  const std::vector<index_t> displs = packed_displacements(counts);
  std::vector<T> all(static_cast<std::size_t>(displs.back() + counts.back()));
  allgatherv(world, mine.data(), all.data(), counts, displs, type);
  return all;
}

}  // namespace

std::vector<JobOutcome> run_jobs(MPI_Comm world, const SubGroups& groups, const std::vector<Job>& jobs,
                                 const std::function<FactorizationResult(const Job&)>& run_job) {
  std::vector<JobOutcome> mine;
  FailureAgreement agreement(groups.group.get());
  for (const Job& job : jobs) {
    if (job.index % groups.count != groups.index) continue;
    JobOutcome o;
    o.index = job.index;
    o.group = groups.index;
    FactorizationResult r;
    std::optional<LocalFailure> failure;
    try {
      r = run_job(job);
    } catch (...) {
      failure = describe_current_exception();
    }
    try {
      // Any failure, agreed inside the job or not (an MPI error, an allocation, a count too large), skips the
      // job once the subgroup agrees on it; a rank the others cannot reach aborts the run instead of hanging.
      agreement.agree(failure);
      o.ok = true;
      o.relative_error = r.relative_error;
      o.objective = r.objective;
      o.heldout_error = r.heldout_error;
      o.seconds = r.seconds;
      o.iterations = r.iterations;
      o.stop_reason = r.stop_reason;
    } catch (const CollectiveError& e) {
      o.stop_reason = "failed";
      o.error = e.what();
    }
    mine.push_back(o);
  }

  // Leaders send their subgroup's outcomes (the same on all its ranks) to everyone.
  std::vector<double> numbers;
  std::string texts;
  if (groups.leader()) {
    for (const JobOutcome& o : mine) {
      numbers.insert(numbers.end(), {double(o.index), double(o.group), o.ok ? 1.0 : 0.0, o.relative_error, o.objective,
                                     o.heldout_error, o.seconds, double(o.iterations)});
      texts += o.stop_reason + '\x1f' + o.error + '\x1e';
    }
  }
  const std::vector<double> all_numbers = gather_everywhere(world, numbers, MPI_DOUBLE);
  const std::vector<char> all_texts = gather_everywhere(world, std::vector<char>(texts.begin(), texts.end()), MPI_CHAR);

  std::vector<JobOutcome> outcomes(jobs.size());
  std::istringstream text_stream(std::string(all_texts.begin(), all_texts.end()));
  for (std::size_t at = 0; at + kNumbersPerOutcome <= all_numbers.size(); at += kNumbersPerOutcome) {
    JobOutcome o;
    o.index = static_cast<int>(all_numbers[at]);
    o.group = static_cast<int>(all_numbers[at + 1]);
    o.ok = all_numbers[at + 2] != 0.0;
    o.relative_error = all_numbers[at + 3];
    o.objective = all_numbers[at + 4];
    o.heldout_error = all_numbers[at + 5];
    o.seconds = all_numbers[at + 6];
    o.iterations = static_cast<int>(all_numbers[at + 7]);
    std::string record;
    std::getline(text_stream, record, '\x1e');
    const std::size_t split = record.find('\x1f');
    o.stop_reason = record.substr(0, split);
    o.error = record.substr(split + 1);
    outcomes[static_cast<std::size_t>(o.index)] = o;
  }
  return outcomes;
}

int best_job(MPI_Comm world, const SubGroups& groups, const std::vector<JobOutcome>& outcomes,
             const std::vector<int>& candidates) {
  struct {
    double objective;
    int index;
  } mine{std::numeric_limits<double>::infinity(), INT_MAX}, best{0, 0};
  for (int c : candidates) {
    const JobOutcome& o = outcomes[static_cast<std::size_t>(c)];
    if (o.ok && o.group == groups.index && std::isfinite(o.objective) &&
        (o.objective < mine.objective || (o.objective == mine.objective && o.index < mine.index)))
      mine = {o.objective, o.index};
  }
  if (groups.leader()) {
    // Each subgroup offers its best; ties go to the lower job index, whatever the number of subgroups.
    NMF_MPI_CHECK(MPI_Allreduce(&mine, &best, 1, MPI_DOUBLE_INT, MPI_MINLOC, groups.leaders.get()));
  }
  NMF_MPI_CHECK(MPI_Bcast(&best, 1, MPI_DOUBLE_INT, 0, world));  // world rank 0 leads subgroup 0
  return std::isfinite(best.objective) ? best.index : -1;
}

}  // namespace nmf
