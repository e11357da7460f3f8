// A two-rank job that fails on purpose, for ctest to check that one rank's failure ends the
// whole job promptly with its one-line message, instead of leaving the others waiting:
//   neft_parallel_job_failure timeout    rank 1 skips an all-reduce and sleeps; rank 0's
//                                        all-reduce times out (NEFT_COMM_TIMEOUT) and ends it
//   neft_parallel_job_failure exception  rank 1 throws mid-step; its handler ends the job
//                                        while rank 0 waits in an all-reduce
// Rank 1 sleeps far longer than ctest allows, so only the job's end can stop it.
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "parallel/abort_job.h"
#include "parallel/environment.h"
#include "parallel/process_groups.h"
#include "runtime/cpu_threads.h"

int main(int argc, char** argv) {
  using namespace neft;
  using namespace neft::parallel;
  ensure_passive_openmp_wait(argv);
  try {
    MpiSession mpi(&argc, &argv);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode != "timeout" && mode != "exception") fail("usage: ", argv[0], " timeout|exception");
    ProcessGroups groups = make_process_groups(process_environment().world_size, 1, Backend::MPI);
    Tensor t = Tensor::zeros({4}, DType::F32);
    if (groups.rank == 1) {
      if (mode == "exception") fail("shard-1.bin: record 7 is truncated");
      std::this_thread::sleep_for(std::chrono::seconds(300));
      return 0;
    }
    groups.tp->all_reduce(t);
    std::fprintf(stderr, "rank %d: the all-reduce completed without rank 1\n", groups.rank);
    return 0;
  } catch (const std::exception& e) {
    abort_job(e.what());
  }
}
