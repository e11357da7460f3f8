#include "parallel/abort_job.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>

#include "parallel/environment.h"

namespace neft::parallel {

[[noreturn]] void abort_job(const std::string& message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "neft: rank %d: %s\n", world_rank_for_messages(), line.c_str());
  std::fflush(stderr);
  int world = 1;
  if (mpi_running()) MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

}  // namespace neft::parallel
