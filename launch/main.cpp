// The `neft` program: see launch/cli.h. MPI is started only for a rank of a job that a
// launcher (mpirun, srun) started; a plain `neft ...` runs as one process without it.
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "launch/cli.h"
#include "parallel/abort_job.h"
#include "parallel/environment.h"
#include "runtime/cpu_threads.h"
#include "train/parallel_job.h"

int main(int argc, char** argv) {
  neft::ensure_passive_openmp_wait(argv);
  std::optional<neft::parallel::MpiSession> mpi;
  try {
    if (neft::train::started_by_mpi_launcher()) mpi.emplace(&argc, &argv);
  } catch (const std::exception& e) {  // e.g. srun without MPI support: ranks that did not join
    neft::parallel::abort_job(e.what());
  }
  return neft::launch::run_neft(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                                std::cerr);
}
