// The parallelism options of `neft train` and `neft eval`: defaults, the backend for each
// device, NEFT_COMM_TIMEOUT, and the one-line errors of their mistakes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "launch/options.h"
#include "tests/unit/error_of.h"

namespace neft::launch {
namespace {

using ::neft::testing::error_of;

TrainOptions parse_train(const std::vector<std::string>& args) {
  std::ostringstream out;
  return parse_train_options(args, out).value();
}

// NEFT_COMM_TIMEOUT set for the lifetime of the object (unset before and after).
class CommTimeoutVariable {
 public:
  explicit CommTimeoutVariable(const char* value) { ::setenv(kName, value, 1); }
  ~CommTimeoutVariable() { ::unsetenv(kName); }

 private:
  static constexpr const char* kName = "NEFT_COMM_TIMEOUT";
};

TEST(LaunchParallelOptions, Defaults) {
  ::unsetenv("NEFT_COMM_TIMEOUT");
  const TrainOptions o = parse_train({});
  EXPECT_EQ(o.parallelism.tp, 1);
  EXPECT_EQ(o.parallelism.pp, 1);
  EXPECT_EQ(o.parallelism.comm_backend, "auto");
  EXPECT_EQ(o.parallelism.comm_timeout, 300.0);
  EXPECT_EQ(o.parallelism.backend("cpu"), parallel::Backend::MPI);
  EXPECT_EQ(o.parallelism.backend("cuda"), parallel::Backend::NCCL);
  ParallelOptions mpi;
  mpi.comm_backend = "mpi";
  EXPECT_EQ(mpi.backend("cuda"), parallel::Backend::MPI);
  std::ostringstream help;
  EXPECT_FALSE(parse_train_options({"--help"}, help).has_value());
  EXPECT_NE(help.str().find("\nParallelism:\n  --tp N "), std::string::npos) << help.str();
  EXPECT_NE(help.str().find("replaces the default [default: 300]"), std::string::npos);
}

TEST(LaunchParallelOptions, ParsedForTrainAndEval) {
  const TrainOptions o =
      parse_train({"--tp", "2", "--pp", "3", "--comm-backend", "mpi", "--comm-timeout", "7.5"});
  EXPECT_EQ(o.parallelism.tp, 2);
  EXPECT_EQ(o.parallelism.pp, 3);
  EXPECT_EQ(o.parallelism.comm_backend, "mpi");
  EXPECT_EQ(o.parallelism.comm_timeout, 7.5);
  std::ostringstream out;
  const auto eval = parse_eval_options({"--model", "m", "--tp", "4"}, out);
  ASSERT_TRUE(eval.has_value());
  EXPECT_EQ(eval->parallelism.tp, 4);
  // Evaluation runs the pipeline forward only; it cannot dump one stage's logits.
  EXPECT_EQ(parse_eval_options({"--model", "m", "--pp", "2"}, out)->parallelism.pp, 2);
  EXPECT_NE(error_of([] {
              std::ostringstream o;
              parse_eval_options({"--model", "m", "--pp", "2", "--dump-logits", "x"}, o);
            }).find("--dump-logits: gathers the logits of one stage"),
            std::string::npos);
}

TEST(LaunchParallelOptions, TimeoutComesFromTheEnvironmentUnlessGiven) {
  const CommTimeoutVariable variable("12");
  EXPECT_EQ(parse_train({}).parallelism.comm_timeout, 12.0);
  EXPECT_EQ(parse_train({"--comm-timeout", "5"}).parallelism.comm_timeout, 5.0);
}

TEST(LaunchParallelOptions, MistakesAreOneLineErrors) {
  EXPECT_EQ(error_of([] {
              parse_train({"--comm-backend", "nccl"});
            }),
            "bad value 'nccl' for --comm-backend: nccl carries device tensors: it needs "
            "--device cuda; try `neft train --help`");
  EXPECT_EQ(error_of([] {
              parse_train({"--tp", "0"});
            }),
            "bad value '0' for --tp: must be at least 1; try `neft train --help`");
  EXPECT_EQ(error_of([] {
              parse_train({"--comm-backend", "gloo"});
            }),
            "bad value 'gloo' for --comm-backend: expected one of auto, mpi, nccl; try `neft "
            "train --help`");
  // A pipeline evaluates in the loop (its stages pass each batch on).
  EXPECT_EQ(parse_train({"--pp", "2", "--eval-every", "10"}).eval_every, 10);
  const CommTimeoutVariable variable("soon");
  EXPECT_NE(error_of([] { parse_train({}); }).find("NEFT_COMM_TIMEOUT"), std::string::npos);
}

}  // namespace
}  // namespace neft::launch
