// Errors. A user mistake or a broken invariant throws neft::Error with a one-line
// message; the command layer prints it and exits non-zero (MPI_Abort on many ranks).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace neft {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  throw Error(s.str());
}

}  // namespace neft

#define NEFT_CHECK(cond, ...)                                       \
  do {                                                              \
    if (!(cond)) ::neft::fail(__VA_ARGS__, " (check `" #cond "`)"); \
  } while (0)
