// Ending a multi-rank job from one rank. A rank that cannot go on (a bad file, an exception
// mid-step, a collective that timed out) must take every rank down with its reason, or the
// others wait for it forever inside their next collective.
#pragma once
#include <string>

namespace neft::parallel {

// Prints "neft: rank R: <message>" (one line; R is the world rank) to stderr, then ends the
// job: MPI_Abort on MPI_COMM_WORLD when MPI runs with more than one rank, else exit(1).
[[noreturn]] void abort_job(const std::string& message);

}  // namespace neft::parallel
