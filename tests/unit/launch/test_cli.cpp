// The `neft` command line: the command list, --version, dispatch errors as one line naming
// the command, and --help reaching each command.
#include <gtest/gtest.h>

#include <sstream>

#include "launch/cli.h"

namespace neft::launch {
namespace {

struct Result {
  int status;
  std::string out, err;
};

Result neft(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int status = run_neft(args, out, err);
  return {status, out.str(), err.str()};
}

TEST(LaunchCli, ListsTheCommands) {
  for (const auto& args : std::vector<std::vector<std::string>>{{}, {"--help"}, {"help"}}) {
    const Result r = neft(args);
    EXPECT_EQ(r.status, args.empty() ? 1 : 0);
    EXPECT_EQ(r.out.rfind("usage: neft <command> [options]\n", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("\n  train     train a model"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n  eval      evaluate a model"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

TEST(LaunchCli, Version) {
  const Result r = neft({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("neft 0.1.0 (CUDA backend: ", 0), 0u) << r.out;
}

TEST(LaunchCli, CommandHelp) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"train", "--help"}, {"help", "train"}}) {
    const Result r = neft(args);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out.rfind("usage: neft train [--config FILE] [options]\n", 0), 0u) << r.out;
  }
  EXPECT_EQ(neft({"eval", "-h"}).out.rfind("usage: neft eval", 0), 0u);
}

TEST(LaunchCli, ErrorsAreOneLineNamingTheCommand) {
  Result r = neft({"train", "--bogus"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "neft train: error: unknown option '--bogus'; try `neft train --help`\n");
  EXPECT_EQ(r.out, "");
  r = neft({"eval", "--model", "m", "--examples", "x"});
  EXPECT_EQ(r.err,
            "neft eval: error: bad value 'x' for --examples: expected an integer; try `neft "
            "eval --help`\n");
  r = neft({"trian"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(
      r.err,
      "neft: error: unknown command 'trian' (the commands are train, eval, generate, finetune, "
      "score, select, merge, import-gguf, tokenize, continual, analyze, plan, report); try `neft "
      "--help`\n");
  r = neft({"--verbose"});
  EXPECT_EQ(r.err.rfind("neft: error: unknown option '--verbose'", 0), 0u) << r.err;
}

TEST(LaunchCli, FatalErrorsStayOnOneLine) {
  std::ostringstream err;
  EXPECT_EQ(report_fatal_error("train", "first\nsecond", err), 1);
  EXPECT_EQ(err.str(), "neft train: error: first second\n");
}

}  // namespace
}  // namespace neft::launch
