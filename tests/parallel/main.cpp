// The multi-rank test program: one GoogleTest binary run by mpirun at 1, 2 and 4 ranks.
// Rank 0 prints the usual report; the other ranks print only their failures, prefixed with
// the rank, so that a failure on any rank is seen (and fails the job through its exit code).
#include <gtest/gtest.h>

#include <cstdio>
#include <exception>

#include "parallel/abort_job.h"
#include "parallel/environment.h"
#include "runtime/cpu_threads.h"

namespace {

class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  neft::ensure_passive_openmp_wait(argv);
  try {
    neft::parallel::MpiSession mpi(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    const int rank = neft::parallel::process_environment().rank;
    if (rank > 0) {
      ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new FailurePrinter(rank));
    }
    return RUN_ALL_TESTS();
  } catch (const std::exception& e) {
    neft::parallel::abort_job(e.what());
  }
}
