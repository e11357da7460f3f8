#include "runtime/cpu_threads.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace neft {

void ensure_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr,
               "note: could not re-execute with OMP_WAIT_POLICY=passive; "
               "set it in the environment for full CPU speed\n");
}

}  // namespace neft
