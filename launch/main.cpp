// The `neft` program: see launch/cli.h.
#include <iostream>
#include <string>
#include <vector>

#include "launch/cli.h"
#include "runtime/cpu_threads.h"

int main(int argc, char** argv) {
  neft::ensure_passive_openmp_wait(argv);
  return neft::launch::run_neft(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                                std::cerr);
}
