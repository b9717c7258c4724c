// GoogleTest main for MPI tests (in the manner of Ginkgo's): every rank runs every test; after each test
// the ranks combine their results, and rank 0 reports a test as failed if it failed on any rank, with the
// failing ranks' messages. Only rank 0 prints; all ranks exit with the same code.
//
// A failure must not hang the job. A rank whose test failed (a fatal ASSERT returns from the test body early,
// possibly before a collective the other ranks are waiting in) waits at most kFailedRankWaitSeconds for the
// others to finish the test; if they do not, it prints which rank and test failed and MPI_Abort's the job
// instead of leaving everyone blocked until the ctest timeout. The listener's own collectives run on a
// duplicate of MPI_COMM_WORLD, so they can never be matched with a test's pending collectives.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

// Long enough for ranks that are only slower (oversubscribed) to catch up, far below the ctest timeout.
constexpr double kFailedRankWaitSeconds = 10.0;

class MpiResultPrinter : public testing::EmptyTestEventListener {
 public:
  MpiResultPrinter(int rank, int ranks, MPI_Comm comm) : rank_(rank), ranks_(ranks), comm_(comm) {}

  void OnTestStart(const testing::TestInfo& info) override {
    if (rank_ == 0) std::printf("[ RUN      ] %s.%s\n", info.test_suite_name(), info.name());
    std::fflush(stdout);
  }

  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::ostringstream message;
    message << "rank " << rank_ << ": " << (result.file_name() ? result.file_name() : "?") << ":"
            << result.line_number() << ": " << result.summary() << "\n";
    failures_ += message.str();
  }

  void OnTestEnd(const testing::TestInfo& info) override {
    wait_for_every_rank(info);
    // Gather every rank's failure text on rank 0.
    const int length = static_cast<int>(failures_.size());
    std::vector<int> lengths(static_cast<std::size_t>(ranks_)), displs(lengths.size(), 0);
    MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, comm_);
    for (std::size_t r = 1; r < lengths.size(); ++r) displs[r] = displs[r - 1] + lengths[r - 1];
    std::string all(rank_ == 0 ? static_cast<std::size_t>(displs.back() + lengths.back()) : 0, '\0');
    MPI_Gatherv(failures_.data(), length, MPI_CHAR, all.data(), lengths.data(), displs.data(), MPI_CHAR, 0, comm_);
    const bool skipped = info.result()->Skipped();
    if (rank_ == 0) {
      if (!all.empty()) {
        std::printf("%s[  FAILED  ] %s.%s\n", all.c_str(), info.test_suite_name(), info.name());
        failed_tests_.push_back(std::string(info.test_suite_name()) + "." + info.name());
      } else {
        std::printf("[ %s ] %s.%s (%lld ms)\n", skipped ? " SKIPPED" : "      OK", info.test_suite_name(), info.name(),
                    static_cast<long long>(info.result()->elapsed_time()));
      }
      std::fflush(stdout);
    }
    failures_.clear();
  }

  void OnTestProgramEnd(const testing::UnitTest& unit) override {
    if (rank_ != 0) return;
    std::printf("[==========] %d tests ran on %d ranks; %zu failed\n", unit.test_to_run_count(), ranks_,
                failed_tests_.size());
    for (const auto& name : failed_tests_) std::printf("[  FAILED  ] %s\n", name.c_str());
  }

  bool any_failed() const { return !failed_tests_.empty(); }

 private:
  // Every rank announces that it finished the test. A rank without failures waits as long as it takes (a
  // genuine hang of passing code is the ctest timeout's business); a rank with failures waits at most
  // kFailedRankWaitSeconds, then aborts the job with its messages.
  void wait_for_every_rank(const testing::TestInfo& info) {
    MPI_Request request = MPI_REQUEST_NULL;
    MPI_Ibarrier(comm_, &request);
    if (failures_.empty()) {
      MPI_Wait(&request, MPI_STATUS_IGNORE);
      return;
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(kFailedRankWaitSeconds);
    int done = 0;
    for (;;) {
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done) return;
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling interval, not synchronisation
    }
    std::fprintf(stderr,
                 "%s[  FAILED  ] %s.%s failed on rank %d of %d, and the other ranks did not finish the test within "
                 "%g s (they are probably waiting in a collective this rank skipped): aborting the job\n",
                 failures_.c_str(), info.test_suite_name(), info.name(), rank_, ranks_, kFailedRankWaitSeconds);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

  int rank_, ranks_;
  MPI_Comm comm_;
  std::string failures_;
  std::vector<std::string> failed_tests_;
};

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  MPI_Comm listener_comm = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &listener_comm);

  testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());
  auto* printer = new MpiResultPrinter(rank, ranks, listener_comm);
  listeners.Append(printer);

  const int local = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, listener_comm);
  MPI_Comm_free(&listener_comm);
  MPI_Finalize();
  return any != 0 ? 1 : 0;
}
