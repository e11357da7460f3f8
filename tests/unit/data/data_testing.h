// Shared helpers for the data tests: a check that a call fails with a one-line message
// containing given fragments. The temporary directory they write files to comes with it
// (tests/unit/temp_dir.h).
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>

#include "runtime/error.h"
#include "tests/unit/temp_dir.h"

namespace neft::data::testing {

// Expects `call` to throw neft::Error whose one-line message contains every fragment.
inline void expect_error(const std::function<void()>& call,
                         std::initializer_list<std::string> fragments) {
  try {
    call();
    ADD_FAILURE() << "expected an error containing '" << *fragments.begin() << "'";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& f : fragments)
      EXPECT_NE(message.find(f), std::string::npos) << "'" << f << "' not in: " << message;
  }
}

}  // namespace neft::data::testing
