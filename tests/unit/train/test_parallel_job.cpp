// The multi-rank side of a command without a launcher: which environments mean "started by
// mpirun or srun", and a one-process job with the layouts it turns away.
#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "tests/unit/error_of.h"
#include "train/parallel_job.h"

namespace neft::train {
namespace {

using ::neft::testing::error_of;

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
}  // namespace neft::train
