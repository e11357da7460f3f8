#include "runtime/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace neft {

namespace {

struct CrashSettings {
  long at = 0;  // 0: never
  bool trace = false;
};

// This process's rank as its launcher numbers it (mpirun, srun, a PMI launcher); -1 when none.
long launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(name)) return std::strtol(v, nullptr, 10);
  return -1;
}

const CrashSettings& settings() {
  static const CrashSettings s = [] {
    CrashSettings c;
    // NEFT_CRASH_RANK=r: only rank r of a multi-rank job counts, traces and dies.
    if (const char* rank = std::getenv("NEFT_CRASH_RANK"))
      if (std::strtol(rank, nullptr, 10) != launcher_rank()) return c;
    if (const char* at = std::getenv("NEFT_CRASH_AT")) c.at = std::strtol(at, nullptr, 10);
    if (const char* trace = std::getenv("NEFT_CRASH_TRACE")) c.trace = trace[0] == '1';
    return c;
  }();
  return s;
}

}  // namespace

void crash_point(const char* what) {
  const CrashSettings& s = settings();
  if (s.at <= 0 && !s.trace) return;
  static std::atomic<long> calls{0};
  const long n = ++calls;
  if (s.trace) std::fprintf(stderr, "neft: crash point %ld: %s\n", n, what);
  if (n == s.at) ::kill(::getpid(), SIGKILL);
}

}  // namespace neft
