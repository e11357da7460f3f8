// The multi-rank side of `neft` without a launcher: the parallelism options (defaults, the
// backend for each device, NEFT_COMM_TIMEOUT, the one-line errors), which environments mean
// "started by mpirun or srun", and a one-process job with the layouts it turns away.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <sstream>

#include "launch/options.h"
#include "launch/parallel_job.h"
#include "runtime/error.h"

namespace neft::launch {
namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

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
  // Evaluation runs no pipeline.
  EXPECT_NE(error_of([] {
              std::ostringstream o;
              parse_eval_options({"--model", "m", "--pp", "2"}, o);
            }).find("unknown option '--pp'"),
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
  // A pipeline stage cannot evaluate the whole model during training.
  EXPECT_EQ(error_of([] {
              parse_train({"--pp", "2", "--eval-every", "10"});
            }),
            "bad value '10' for --eval-every: training with --pp 2 does not evaluate; use "
            "--eval-every 0 and `neft eval --model OUT/model`; try `neft train --help`");
  EXPECT_EQ(parse_train({"--pp", "2"}).eval_every, 0);
  const CommTimeoutVariable variable("soon");
  EXPECT_NE(error_of([] { parse_train({}); }).find("NEFT_COMM_TIMEOUT"), std::string::npos);
}

TEST(LaunchParallelJob, LaunchersAreRecognisedByTheirVariables) {
  auto started = [](std::map<std::string, std::string> vars) {
    return started_by_mpi_launcher([&](const std::string& name) -> std::optional<std::string> {
      const auto it = vars.find(name);
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
  };
  EXPECT_FALSE(started({}));
  EXPECT_TRUE(started({{"OMPI_COMM_WORLD_SIZE", "1"}}));  // mpirun -np 1 too
  EXPECT_TRUE(started({{"PMIX_RANK", "0"}}));
  EXPECT_TRUE(started({{"PMI_SIZE", "2"}}));
  EXPECT_TRUE(started({{"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_TASKS", "8"}}));
  // A batch script's own process, or an srun step of one task: a plain process.
  EXPECT_FALSE(started({{"SLURM_PROCID", "0"}}));
  EXPECT_FALSE(started({{"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_TASKS", "1"}}));
}

TEST(LaunchParallelJob, OneProcessWithoutMpi) {
  ParallelOptions o;
  const ParallelJob job = ParallelJob::start(o, "cpu");
  EXPECT_EQ(job.rank(), 0);
  EXPECT_EQ(job.world_size(), 1);
  EXPECT_EQ(job.dp_size(), 1);
  EXPECT_TRUE(job.writes_output());
  EXPECT_TRUE(job.holds_output_shards());
  EXPECT_EQ(job.tp(), nullptr);
  EXPECT_EQ(job.dp(), nullptr);
  EXPECT_EQ(job.tensor_parallel().size, 1);
  job.barrier();
  EXPECT_EQ(running_world_size(), 1);
}

TEST(LaunchParallelJob, LayoutsThatNeedMoreRanksAreOneLineErrors) {
  ParallelOptions o;
  o.tp = 2;
  EXPECT_EQ(error_of([&] { ParallelJob::start(o, "cpu"); }),
            "--tp 2 x --pp 1 needs a multiple of 2 ranks, and this job has 1 process: launch it "
            "with `mpirun -np N neft ...` or `srun -n N neft ...`, N a multiple of 2");
  o.tp = 1;
  o.pp = 2;
  EXPECT_EQ(error_of([&] { ParallelJob::start(o, "cpu"); }),
            "--tp 1 x --pp 2 needs a multiple of 2 ranks, and this job has 1 process: launch it "
            "with `mpirun -np N neft ...` or `srun -n N neft ...`, N a multiple of 2");
}

}  // namespace
}  // namespace neft::launch
