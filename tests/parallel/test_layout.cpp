// The pure parts of parallel/: rank layout arithmetic, group membership, the launcher's
// variables against MPI's view, the timeout and backend settings. Rank-independent; they
// run at every np.
#include <gtest/gtest.h>

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <tuple>

#include "helpers.h"
#include "parallel/communicator.h"
#include "parallel/environment.h"
#include "parallel/process_groups.h"
#include "runtime/device.h"

#ifdef NEFT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace neft::parallel {
namespace {

using testing::error_of;

TEST(Layout, DataParallelSizeIsInferredFromTheWorld) {
  const Layout l = make_layout(8, 2, 2);
  EXPECT_EQ(l.tp, 2);
  EXPECT_EQ(l.pp, 2);
  EXPECT_EQ(l.dp, 2);
  EXPECT_EQ(make_layout(6, 3, 1).dp, 2);
  EXPECT_EQ(make_layout(1, 1, 1).dp, 1);
}

TEST(Layout, ALayoutThatDoesNotDivideTheWorldIsAnErrorNamingTheNumbers) {
  EXPECT_EQ(error_of([] { make_layout(6, 4, 1); }), "world size 6 is not divisible by tp 4 x pp 1");
  EXPECT_EQ(error_of([] { make_layout(4, 2, 3); }), "world size 4 is not divisible by tp 2 x pp 3");
  EXPECT_EQ(error_of([] { make_layout(4, 0, 1); }), "tp must be at least 1 (got 0)");
  EXPECT_EQ(error_of([] { make_layout(4, 1, -2); }), "pp must be at least 1 (got -2)");
}

TEST(Layout, RanksAreOrderedTensorInnermostThenDataThenPipeline) {
  const Layout l = make_layout(8, 2, 2);  // dp 2
  const RankCoordinates expected[8] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0},
                                       {0, 0, 1}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}};
  for (int r = 0; r < 8; ++r) {
    const RankCoordinates c = rank_coordinates(r, l);
    EXPECT_EQ(c, expected[r]) << "rank " << r << " -> (tp " << c.tp << ", dp " << c.dp << ", pp "
                              << c.pp << ")";
  }
}

TEST(Layout, CoordinatesAndGlobalRanksAreInverse) {
  for (const auto& [tp, pp, world] :
       {std::tuple{1, 1, 1}, {2, 1, 6}, {3, 2, 12}, {1, 4, 8}, {4, 1, 4}, {2, 3, 12}}) {
    const Layout l = make_layout(world, tp, pp);
    for (int r = 0; r < world; ++r)
      EXPECT_EQ(global_rank(rank_coordinates(r, l), l), r)
          << "tp " << tp << " pp " << pp << " world " << world;
  }
}

TEST(Layout, RanksOutsideTheLayoutAreErrors) {
  const Layout l = make_layout(4, 2, 1);
  EXPECT_NE(error_of([&] { rank_coordinates(4, l); }).find("rank 4 is outside a world of 4"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              global_rank({2, 0, 0}, l);
            }).find("(tp 2, dp 0, pp 0)"),
            std::string::npos);
}

TEST(Layout, GroupMembersShareTheOtherCoordinates) {
  const Layout l = make_layout(8, 2, 2);
  const RankCoordinates five = rank_coordinates(5, l);  // (tp 1, dp 0, pp 1)
  EXPECT_EQ(group_ranks(Group::TP, five, l), (std::vector<int>{4, 5}));
  EXPECT_EQ(group_ranks(Group::DP, five, l), (std::vector<int>{5, 7}));
  EXPECT_EQ(group_ranks(Group::PP, five, l), (std::vector<int>{1, 5}));
  EXPECT_EQ(group_ranks(Group::ModelParallel, five, l), (std::vector<int>{0, 1, 4, 5}));
  EXPECT_EQ(group_ranks(Group::World, five, l), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Layout, EveryRankIsInExactlyOneGroupOfEachKind) {
  const Layout l = make_layout(12, 3, 2);  // dp 2
  for (Group g : {Group::TP, Group::DP, Group::PP, Group::ModelParallel}) {
    std::vector<int> seen(12, 0);
    for (int r = 0; r < 12; ++r) {
      const std::vector<int> members = group_ranks(g, rank_coordinates(r, l), l);
      EXPECT_NE(std::find(members.begin(), members.end(), r), members.end());
      if (members.front() == r)
        for (int m : members) ++seen[size_t(m)];  // count each group once, from its first rank
    }
    EXPECT_EQ(seen, std::vector<int>(12, 1)) << group_name(g);
  }
}

// A fake environment for the launcher cross-check.
EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

ProcessEnvironment mpi_view(int rank, int world, int local_rank, int local_size) {
  ProcessEnvironment e;
  e.rank = rank;
  e.world_size = world;
  e.local_rank = local_rank;
  e.local_size = local_size;
  return e;
}

TEST(Environment, AgreeingLauncherVariablesNameTheLauncher) {
  const ProcessEnvironment mpi = mpi_view(3, 4, 1, 2);
  EXPECT_EQ(cross_check_environment(mpi, fake_env({})).launcher, "none");
  const ProcessEnvironment ompi = cross_check_environment(
      mpi, fake_env({{"OMPI_COMM_WORLD_RANK", "3"},
                     {"OMPI_COMM_WORLD_SIZE", "4"},
                     {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                     {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                     {"SLURM_PROCID", "0"}}));  // mpirun inside an allocation: OpenMPI's count
  EXPECT_EQ(ompi.launcher, "OpenMPI");
  EXPECT_EQ(ompi.rank, 3);
  EXPECT_EQ(ompi.local_size, 2);
  EXPECT_EQ(
      cross_check_environment(
          mpi,
          fake_env({{"SLURM_PROCID", "3"}, {"SLURM_LOCALID", "1"}, {"SLURM_STEP_NUM_TASKS", "4"}}))
          .launcher,
      "SLURM");
}

TEST(Environment, ProcessesThatDidNotJoinOneJobAreAnErrorNamingTheVariable) {
  // srun without MPI support: four one-rank jobs.
  const ProcessEnvironment singleton = mpi_view(0, 1, 0, 1);
  EXPECT_EQ(error_of([&] {
              cross_check_environment(singleton, fake_env({{"SLURM_PROCID", "2"},
                                                           {"SLURM_LOCALID", "2"},
                                                           {"SLURM_STEP_NUM_TASKS", "4"}}));
            }),
            "SLURM_PROCID=2 but MPI reports rank 0 (rank 0 of 1): the launched processes did "
            "not join one MPI job (use mpirun, or srun with MPI support such as --mpi=pmix)");
  EXPECT_NE(error_of([&] {
              cross_check_environment(singleton, fake_env({{"SLURM_PROCID", "0"},
                                                           {"SLURM_LOCALID", "0"},
                                                           {"SLURM_STEP_NUM_TASKS", "4"}}));
            }).find("SLURM_STEP_NUM_TASKS=4 but MPI reports world size 1"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              cross_check_environment(
                  mpi_view(1, 2, 1, 2),
                  fake_env({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}}));
            }).find("OMPI_COMM_WORLD_LOCAL_RANK=0 but MPI reports local rank 1"),
            std::string::npos);
  // A batch script's own process (no step) running one rank is fine.
  EXPECT_EQ(
      cross_check_environment(singleton, fake_env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}}))
          .launcher,
      "SLURM");
}

TEST(Environment, AVariableThatIsNotANumberIsAnErrorNamingIt) {
  EXPECT_EQ(error_of([] {
              cross_check_environment(
                  mpi_view(0, 1, 0, 1),
                  fake_env({{"OMPI_COMM_WORLD_SIZE", "1"}, {"OMPI_COMM_WORLD_RANK", "zero"}}));
            }),
            "OMPI_COMM_WORLD_RANK='zero' is not a rank or a count");
}

TEST(Environment, TheLiveEnvironmentMatchesMpi) {
  const ProcessEnvironment& e = process_environment();
  int rank = -1, size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(e.rank, rank);
  EXPECT_EQ(e.world_size, size);
  EXPECT_GE(e.local_rank, 0);
  EXPECT_LT(e.local_rank, e.local_size);
  if (std::getenv("OMPI_COMM_WORLD_SIZE")) {
    EXPECT_EQ(e.launcher, "OpenMPI");
  }
  EXPECT_EQ(world_rank_for_messages(), rank);
}

TEST(Environment, TheDeviceFollowsTheLocalRank) {
  const int device = select_device_for_local_rank();
  if (!cuda_available()) {
    EXPECT_EQ(device, -1) << "no GPU here: " << cuda_unavailable_reason();
    return;
  }
#ifdef NEFT_WITH_CUDA
  int count = 0, current = -1;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(device, process_environment().local_rank % count);
  EXPECT_EQ(current, device);
#endif
}

// Sets an environment variable for one scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Settings, CommTimeoutComesFromTheEnvironmentOrTheDefault) {
  {
    ScopedEnv unset("NEFT_COMM_TIMEOUT", nullptr);
    EXPECT_EQ(default_comm_timeout_s(), kDefaultCommTimeoutSeconds);
  }
  {
    ScopedEnv set("NEFT_COMM_TIMEOUT", "2.5");
    EXPECT_EQ(default_comm_timeout_s(), 2.5);
  }
  for (const char* bad : {"abc", "0", "-3", "5s", ""}) {
    ScopedEnv set("NEFT_COMM_TIMEOUT", bad);
    EXPECT_EQ(error_of([] { default_comm_timeout_s(); }),
              std::string("NEFT_COMM_TIMEOUT='") + bad + "' is not a positive number of seconds");
  }
}

TEST(Settings, BackendsByName) {
  EXPECT_EQ(backend_from_name("mpi"), Backend::MPI);
  EXPECT_EQ(backend_from_name("nccl"), Backend::NCCL);
  EXPECT_STREQ(backend_name(Backend::NCCL), "nccl");
  EXPECT_EQ(error_of([] { backend_from_name("gloo"); }),
            "unknown communication backend 'gloo' (expected mpi or nccl)");
}

}  // namespace
}  // namespace neft::parallel
