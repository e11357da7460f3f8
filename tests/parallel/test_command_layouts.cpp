// Commands as a user runs them under mpirun (in process, on every rank), at tp 2 and at pp 2
// against tp 1 (two data-parallel replicas, each evaluating the whole model): `neft analyze
// deactivate`'s every loss and accuracy, and `neft continual`'s accuracy matrix for each
// method.
#include <gtest/gtest.h>

#include <mpi.h>

#include <cmath>
#include <memory>

#include "tests/parallel/train_run_helpers.h"
#include "tests/unit/jsonl.h"

namespace neft::launch::testing {
namespace {

// 0 on success, as ASSERT_EQ(run(...), 0) reads; neft() fails the test otherwise.
int run(const std::vector<std::string>& args) {
  neft(args);
  return ::testing::Test::HasFatalFailure() ? 1 : 0;
}

const std::vector<std::string> kData = {"--seq-len", "32", "--seed", "7"};

// A scratch directory every rank sees, with a two-step base model in base/.
class CommandLayouts : public ::testing::Test {
 protected:
  void SetUp() override {
    int world = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (world != 2) GTEST_SKIP() << "layouts for 2 ranks";
    rank_ = world_rank();
    dir_ = std::make_unique<SharedTempDir>();
    d_ = dir_->file("");
    ASSERT_EQ(run(with({"train", "--out", d_ + "/base", "--steps", "2", "--log-every", "100",
                        "--eval-examples", "2", "--micro-batch", "4", "--tasks", "copy,shift"},
                       kData)),
              0);
  }
  int rank_ = 0;
  std::unique_ptr<SharedTempDir> dir_;
  std::string d_;
};

TEST_F(CommandLayouts, DeactivateAtTp2AndPp2EqualsOneRank) {
  const std::string d = d_;
  const std::vector<std::string> data = with({"--tasks", "copy,shift"}, kData);
  ASSERT_EQ(run(with({"score", "--init", d + "/base/model", "--tp", "2", "--scorer", "random",
                      "--kinds", "all", "--out", d + "/scores.safetensors"},
                     data)),
            0);
  ASSERT_EQ(run({"select", "--scores", d + "/scores.safetensors", "--model", d + "/base/model",
                 "--budget", "10%", "--out", d + "/set.safetensors"}),
            0);
  for (const char* layout : {"tp", "pp"})
    for (const char* n : {"1", "2"})
      ASSERT_EQ(run(with({"analyze", "deactivate", "--model", d + "/base/model", "--neurons",
                          d + "/set.safetensors", "--random-sets", "2", "--examples", "16",
                          std::string("--") + layout, n, "--out", d + "/" + layout + n + ".jsonl"},
                         data)),
                0);
  if (rank_ != 0) return;
  const auto one = ::neft::testing::read_jsonl(d + "/tp1.jsonl");
  for (const char* layout : {"tp2", "pp2"}) {
    const auto two = ::neft::testing::read_jsonl(d + "/" + layout + ".jsonl");
    ASSERT_EQ(one.size(), 2u * 4);
    ASSERT_EQ(two.size(), one.size());
    for (size_t i = 0; i < one.size(); ++i) {
      EXPECT_EQ(two[i]["zeroed"], one[i]["zeroed"]);
      EXPECT_EQ(two[i]["task"], one[i]["task"]);
      // fp32 sums in another order: a relative 1e-5 of the loss (a mean of a few hundred
      // token losses of order 1) is hundreds of times their rounding.
      EXPECT_NEAR(two[i]["loss"].get<double>(), one[i]["loss"].get<double>(),
                  1e-5 * std::abs(one[i]["loss"].get<double>()));
      // A two-step model's logits are close to each other: rounding may flip one argmax, one
      // example of 16.
      EXPECT_LE(std::abs(two[i]["accuracy"].get<double>() - one[i]["accuracy"].get<double>()),
                1.0 / 16 + 1e-12);
    }
  }
}

TEST_F(CommandLayouts, ContinualAtTp2AndPp2EqualsOneRank) {
  for (const char* method : {"ncft", "wncft", "seqft", "seqlora"}) {
    // tp 1 on two ranks is two data-parallel replicas, each with its micro-batch and its
    // scoring batches; tp 2 and pp 2 take the same ones, both on their one replica.
    for (const std::string layout : {"tp1", "tp2", "pp2"}) {
      const bool replicas = layout == "tp1";
      ASSERT_EQ(run(with({"continual",
                          "--init",
                          d_ + "/base/model",
                          "--tasks",
                          "copy,shift",
                          "--method",
                          method,
                          "--steps",
                          "4",
                          "--log-every",
                          "100",
                          "--eval-examples",
                          "16",
                          "--micro-batch",
                          "4",
                          "--grad-accum",
                          replicas ? "1" : "2",
                          "--score-batches",
                          replicas ? "2" : "4",
                          "--" + layout.substr(0, 2),
                          layout.substr(2),
                          "--out",
                          d_ + "/" + method + "-" + layout},
                         kData)),
                0);
    }
    if (rank_ != 0) continue;
    const auto one = ::neft::testing::read_jsonl(d_ + "/" + method + "-tp1/continual.jsonl");
    ASSERT_EQ(one.size(), 2u);
    for (const char* layout : {"tp2", "pp2"}) {
      const auto two =
          ::neft::testing::read_jsonl(d_ + "/" + method + "-" + layout + "/continual.jsonl");
      ASSERT_EQ(two.size(), 2u);
      for (size_t i = 0; i < 2; ++i)
        for (const char* task : {"copy", "shift"}) {
          // As for deactivation: the loss within fp32 rounding of sums in another order, the
          // exact match within one argmax of 16.
          const double l1 = one[i]["loss"][task], l2 = two[i]["loss"][task];
          EXPECT_NEAR(l2, l1, 1e-4 * std::abs(l1))
              << method << " " << layout << " stage " << i + 1 << " " << task;
          EXPECT_LE(std::abs(two[i]["accuracy"][task].get<double>() -
                             one[i]["accuracy"][task].get<double>()),
                    1.0 / 16 + 1e-12)
              << method << " " << layout;
        }
    }
  }
}

}  // namespace
}  // namespace neft::launch::testing
