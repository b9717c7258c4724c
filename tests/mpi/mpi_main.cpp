// GoogleTest main for MPI tests (in the manner of Ginkgo's): every rank runs every test; after each test
// the ranks combine their results, and rank 0 reports a test as failed if it failed on any rank, with the
// failing ranks' messages. Only rank 0 prints; all ranks exit with the same code.
#include <gtest/gtest.h>
#include <mpi.h>

#include <sstream>
#include <string>
#include <vector>

namespace {

class MpiResultPrinter : public testing::EmptyTestEventListener {
 public:
  MpiResultPrinter(int rank, int ranks) : rank_(rank), ranks_(ranks) {}

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
    // Gather every rank's failure text on rank 0.
    const int length = static_cast<int>(failures_.size());
    std::vector<int> lengths(static_cast<std::size_t>(ranks_)), displs(lengths.size(), 0);
    MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    for (std::size_t r = 1; r < lengths.size(); ++r) displs[r] = displs[r - 1] + lengths[r - 1];
    std::string all(rank_ == 0 ? static_cast<std::size_t>(displs.back() + lengths.back()) : 0, '\0');
    MPI_Gatherv(failures_.data(), length, MPI_CHAR, all.data(), lengths.data(), displs.data(), MPI_CHAR, 0,
                MPI_COMM_WORLD);
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
  int rank_, ranks_;
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

  testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());
  auto* printer = new MpiResultPrinter(rank, ranks);
  listeners.Append(printer);

  const int local = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any != 0 ? 1 : 0;
}
