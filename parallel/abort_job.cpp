#include "parallel/abort_job.h"

#include <mpi.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "parallel/environment.h"

namespace neft::parallel {

namespace {
constexpr int kForwardPauseMs = 1000;
}  // namespace

[[noreturn]] void abort_job(const std::string& message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fflush(nullptr);  // what the rank printed before (progress lines) goes out first
  // One write(2) of the whole line: stderr's buffer cannot hold part of it back, and lines of
  // ranks failing together do not interleave.
  const std::string text =
      "neft: rank " + std::to_string(world_rank_for_messages()) + ": " + line + "\n";
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0 && errno != EINTR) break;
    if (n > 0) done += size_t(n);
  }
  int world = 1;
  if (mpi_running()) MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world > 1) {
    // The launcher forwards a rank's output through its daemon as it reads it; MPI_Abort at
    // once can end the job before the line was read, and the user is left without the reason.
    // A pause long enough for the daemon to read and forward it comes first.
    std::this_thread::sleep_for(std::chrono::milliseconds(kForwardPauseMs));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::exit(1);
}

}  // namespace neft::parallel
