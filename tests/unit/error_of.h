// The message of the neft::Error that f throws ("" when it throws none), for tests of the
// one-line errors.
#pragma once
#include <string>

#include "runtime/error.h"

namespace neft::testing {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace neft::testing
