// `neft analyze deactivate` and `neft eval --deactivate` as a user runs them under mpirun
// (in process, on every rank): at tp 2 the deactivation table's every loss and accuracy
// equal the run at tp 1 (two data-parallel replicas, each evaluating the whole model).
#include <gtest/gtest.h>

#include <mpi.h>

#include <cmath>
#include <memory>

#include "launch/cli.h"
#include "tests/unit/jsonl.h"
#include "tests/unit/temp_dir.h"

namespace neft {
namespace {

int run(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int status = launch::run_neft(args, out, err);
  EXPECT_EQ(status, 0) << err.str();
  return status;
}

TEST(AnalyzeLayouts, DeactivateAtTp2EqualsOneRank) {
  int world = 0, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (world != 2) GTEST_SKIP() << "layout for 2 ranks";
  // Rank 0's scratch directory, named to every rank.
  std::unique_ptr<testing::TempDir> dir;
  char path[4096] = {};
  if (rank == 0) {
    dir = std::make_unique<testing::TempDir>();
    std::snprintf(path, sizeof path, "%s", dir->path().c_str());
  }
  MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
  const std::string d = path;
  const std::vector<std::string> data = {"--tasks", "copy,shift", "--seq-len", "32", "--seed", "7"};
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  ASSERT_EQ(run(with({"train", "--out", d + "/base", "--steps", "2", "--log-every", "100",
                      "--eval-examples", "2", "--micro-batch", "4"},
                     data)),
            0);
  ASSERT_EQ(run(with({"score", "--init", d + "/base/model", "--tp", "2", "--scorer", "random",
                      "--kinds", "all", "--out", d + "/scores.safetensors"},
                     data)),
            0);
  ASSERT_EQ(run({"select", "--scores", d + "/scores.safetensors", "--model", d + "/base/model",
                 "--budget", "10%", "--out", d + "/set.safetensors"}),
            0);
  for (const char* tp : {"1", "2"})
    ASSERT_EQ(run(with({"analyze", "deactivate", "--model", d + "/base/model", "--neurons",
                        d + "/set.safetensors", "--random-sets", "2", "--examples", "16", "--tp",
                        tp, "--out", d + "/tp" + tp + ".jsonl"},
                       data)),
              0);
  if (rank != 0) return;
  const auto one = testing::read_jsonl(d + "/tp1.jsonl"),
             two = testing::read_jsonl(d + "/tp2.jsonl");
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

}  // namespace
}  // namespace neft
