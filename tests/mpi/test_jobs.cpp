// Restarts on subgroups: the split refuses uneven groups, restart seeds are distinct and independent of the
// layout, a failing job is reported and skipped, and the per-restart results and the best restart do not
// depend on how many subgroups run them.
#include <gtest/gtest.h>

#include <new>
#include <optional>
#include <set>

#include "nmf/driver/jobs.hpp"
#include "nmf/io/input.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

TEST(SubGroups, UnevenGroupsAreRefusedOnEveryRank) {
  // P + 1 groups never divide P ranks; the error must reach every rank (no hang, the same message).
  try {
    split_into_groups(MPI_COMM_WORLD, world_size() + 1);
    ADD_FAILURE() << "no error";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("does not divide"), std::string::npos) << e.what();
  }
}

TEST(SubGroups, GroupsAreEqualRunsOfConsecutiveRanksWithOneLeaderEach) {
  for (int groups = 1; groups <= world_size(); ++groups) {
    if (world_size() % groups != 0) continue;
    const SubGroups g = split_into_groups(MPI_COMM_WORLD, groups);
    EXPECT_EQ(size_of(g.group.get()), world_size() / groups);
    EXPECT_EQ(g.index, world_rank() / (world_size() / groups));
    EXPECT_EQ(g.leader(), world_rank() % (world_size() / groups) == 0);
    if (g.leader()) EXPECT_EQ(size_of(g.leaders.get()), groups);
  }
}

TEST(RestartSeeds, RestartZeroKeepsTheSeedAndTheOthersDiffer) {
  EXPECT_EQ(restart_seed(42, 0), 42u);
  std::set<std::uint64_t> seen;
  for (int r = 0; r < 64; ++r) seen.insert(restart_seed(42, r));
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_NE(restart_seed(42, 1), restart_seed(43, 1));
}

// Runs `restarts` hals restarts of k = 4 on `groups` subgroups; returns every outcome and the best index.
std::pair<std::vector<JobOutcome>, int> restarts_on(int groups, int restarts, int failing = -1) {
  const SubGroups g = split_into_groups(MPI_COMM_WORLD, groups);
  const DenseMatrix full = random_matrix(36, 30, 0.5, 61);
  auto source = dense_in_memory(full, "test", false);
  const ProcessGrid grid(g.group.get(), GridShape{size_of(g.group.get()), 1});
  const DistMatrix x = source->distribute(grid);
  std::vector<Job> jobs;
  for (int r = 0; r < restarts; ++r) jobs.push_back(Job{r, 4, -1, r, restart_seed(7, r)});
  const auto outcomes = run_jobs(MPI_COMM_WORLD, g, jobs, [&](const Job& job) {
    if (job.index == failing)
      NMF_THROW_REPLICATED(ExitCode::failure, "injected failure in job " + std::to_string(job.index));
    auto solver = make_solver("hals", SolverParams{4});
    StopRules rules;
    rules.push_back(std::make_unique<MaxIterations>(15));
    AlternatingFactorization driver(grid, x, *solver);
    return driver.run(random_factors(x, grid, 4, job.seed), rules, nullptr);
  });
  std::vector<int> all(jobs.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  return {outcomes, best_job(MPI_COMM_WORLD, g, outcomes, all)};
}

TEST(RunJobs, ResultsAndTheBestRestartDoNotDependOnTheNumberOfSubgroups) {
  const auto [reference, reference_best] = restarts_on(1, 5);
  for (int groups = 2; groups <= world_size(); ++groups) {
    if (world_size() % groups != 0) continue;
    SCOPED_TRACE(std::to_string(groups) + " subgroups");
    const auto [outcomes, best] = restarts_on(groups, 5);
    ASSERT_EQ(outcomes.size(), reference.size());
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      EXPECT_TRUE(outcomes[i].ok);
      EXPECT_EQ(outcomes[i].group, static_cast<int>(i) % groups);  // dealt round-robin
      EXPECT_NEAR(outcomes[i].relative_error, reference[i].relative_error, 1e-8 * reference[i].relative_error);
    }
    EXPECT_EQ(best, reference_best);
  }
}

TEST(RunJobs, TheBestRestartIsTheLowestObjectiveAndNoWorseThanRestartZero) {
  const auto [outcomes, best] = restarts_on(world_size() % 2 == 0 ? 2 : 1, 6);
  ASSERT_GE(best, 0);
  for (const JobOutcome& o : outcomes) EXPECT_LE(outcomes[static_cast<std::size_t>(best)].objective, o.objective);
  EXPECT_LE(outcomes[static_cast<std::size_t>(best)].relative_error, outcomes[0].relative_error);
}

TEST(RunJobs, AFailingJobIsReportedAndTheOthersGoOn) {
  const auto [outcomes, best] = restarts_on(world_size(), 4, /*failing=*/1);  // one rank per subgroup
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_FALSE(outcomes[1].ok);
  EXPECT_EQ(outcomes[1].stop_reason, "failed");
  EXPECT_NE(outcomes[1].error.find("injected failure in job 1"), std::string::npos);
  for (int i : {0, 2, 3}) EXPECT_TRUE(outcomes[static_cast<std::size_t>(i)].ok) << i;
  EXPECT_NE(best, 1);
  EXPECT_GE(best, 0);
}

// Failures that escape `collectively` (a count too large for MPI, an allocation, an MPI error) used to abort the
// whole run; now the subgroup agrees on them at the end of the job, skips the job and goes on.
TEST(RunJobs, AFailureOutsideCollectivelySkipsOnlyItsJob) {
  const SubGroups groups = split_into_groups(MPI_COMM_WORLD, 1);
  std::vector<Job> jobs;
  for (int i = 0; i < 3; ++i) jobs.push_back(Job{i, 2, -1, i, restart_seed(1, i)});
  const std::vector<JobOutcome> outcomes = run_jobs(MPI_COMM_WORLD, groups, jobs, [&](const Job& job) {
    FactorizationResult result;
    result.objective = 1.0 + job.index;
    result.stop_reason = "max_iterations";
    // Job 1 fails on the last rank only, with a plain (unagreed) error, and on rank 0 with bad_alloc.
    if (job.index == 1 && world_rank() == world_size() - 1) (void)mpi_count(index_t{1} << 40, "test count");
    if (job.index == 1 && world_rank() == 0) throw std::bad_alloc();
    return result;
  });
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[0].ok);
  EXPECT_FALSE(outcomes[1].ok);
  EXPECT_TRUE(outcomes[2].ok);
  // The lowest failing rank's message: rank 0's allocation (with one rank, the count too large fails first).
  const std::string expected = world_size() == 1 ? "exceeds MPI's 32-bit count" : "out of memory";
  EXPECT_NE(outcomes[1].error.find(expected), std::string::npos) << outcomes[1].error;
}

TEST(FailureAgreement, NoFailureMeansNoThrow) {
  FailureAgreement agreement(MPI_COMM_WORLD);
  EXPECT_NO_THROW(agreement.agree(std::nullopt));
}

TEST(FailureAgreement, AFailureOnOneRankReachesEveryRankWithItsCodeAndRank) {
  FailureAgreement agreement(MPI_COMM_WORLD);
  const int last = world_size() - 1;
  std::optional<LocalFailure> failure;
  if (world_rank() == last) {
    try {
      (void)blas_int(index_t{1} << 33, "test dimension");
    } catch (...) {
      failure = describe_current_exception();
    }
  }
  try {
    agreement.agree(failure);
    ADD_FAILURE() << "no exception on rank " << world_rank();
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code(), ExitCode::too_large);
    EXPECT_EQ(e.origin_rank(), last);
    EXPECT_NE(std::string(e.what()).find("test dimension"), std::string::npos);
  }
}

TEST(FailureAgreement, MpiErrorsAndAllocationsHaveTheirOwnExitCodes) {
  try {
    NMF_MPI_CHECK(MPI_ERR_COMM);
    ADD_FAILURE() << "no exception";
  } catch (...) {
    EXPECT_EQ(describe_current_exception().code, ExitCode::mpi_error);
  }
  try {
    throw std::bad_alloc();
  } catch (...) {
    EXPECT_EQ(describe_current_exception().code, ExitCode::out_of_memory);
  }
}

}  // namespace
}  // namespace nmf::test
