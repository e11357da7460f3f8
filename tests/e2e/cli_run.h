// Running `neft` in process as a user would from a shell, for the end-to-end tests: its exit
// status and what it printed, and the check that a mistake ends in one line naming it.
#pragma once
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "launch/cli.h"

namespace neft::launch::testing {

struct Result {
  int status;
  std::string out, err;
};

// What the command prints to standard output itself (`neft eval --json` writes there) goes
// to `out` too.
inline Result neft(std::vector<std::string> args) {
  std::ostringstream out, err;
  std::streambuf* const stdout_buffer = std::cout.rdbuf(out.rdbuf());
  const int status = run_neft(args, out, err);
  std::cout.rdbuf(stdout_buffer);
  return {status, out.str(), err.str()};
}

inline std::vector<std::string> with(std::vector<std::string> args,
                                     const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// A base model to fine-tune, in `out`: the tiny preset after two steps of training on `data`
// (--tasks, --seq-len, ...); returns its model/ directory.
inline std::string make_base(const std::string& out, const std::vector<std::string>& data) {
  const Result r = neft(with(
      {"train", "--out", out, "--steps", "2", "--log-every", "100", "--eval-examples", "2"}, data));
  EXPECT_EQ(r.status, 0) << r.err;
  return out + "/model";
}

// Exit status 1 and exactly one line on stderr that contains every one of `parts`.
inline void expect_one_line_error(const Result& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.status, 1);
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  for (const std::string& p : parts) EXPECT_THAT(r.err, ::testing::HasSubstr(p));
}

}  // namespace neft::launch::testing
