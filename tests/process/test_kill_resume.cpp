// A training run killed with SIGKILL at every moment its saves and prunings change the disk
// (runtime/crash_point.h): afterwards every checkpoint under a complete name loads, and
// --resume continues to the same losses and the same final weights, bit for bit, as the run
// that was never interrupted. The uninterrupted run's output, written to a file as in a SLURM
// log, holds no carriage return or terminal escape.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "runtime/atomic_file.h"
#include "runtime/dtype.h"
#include "runtime/json_file.h"
#include "tests/process/logged_losses.h"
#include "tests/process/run_process.h"
#include "tests/unit/temp_dir.h"
#include "train/checkpoint_dir.h"
#include "train/sharded_checkpoint.h"

namespace neft::testing {
namespace {

namespace fs = std::filesystem;

struct KillCase {
  const char* name;
  int64_t save_every, keep;
};

std::vector<std::string> train_args(const KillCase& c, const fs::path& out, int steps = 6) {
  return {"train",
          "--model",
          "tiny",
          "--steps",
          std::to_string(steps),
          "--save-every",
          std::to_string(c.save_every),
          "--keep-checkpoints",
          std::to_string(c.keep),
          "--micro-batch",
          "2",
          "--seq-len",
          "32",
          "--tasks",
          "copy",
          "--eval-examples",
          "4",
          "--log-every",
          "1",
          "--out",
          out.string()};
}

// Every tensor the index places reads (the reader checks sizes, offsets and finiteness, and
// that the slices cover each tensor), and the trainer state names the directory's step.
void expect_loadable(const fs::path& dir) {
  try {
    train::ShardedCheckpoint(dir.string()).verify();
    const nlohmann::json state = read_json_file((dir / "trainer_state.json").string());
    EXPECT_EQ(state["step"].get<int64_t>(), *train::checkpoint_step(dir)) << dir;
  } catch (const std::exception& e) {
    ADD_FAILURE() << dir << " is under a complete name but does not load: " << e.what();
  }
}

class KillResume : public ::testing::TestWithParam<KillCase> {};

TEST_P(KillResume, EveryMomentLeavesLoadableCheckpointsAndResumesBitwise) {
  TempDir tmp;
  const KillCase& c = GetParam();
  const fs::path reference = tmp.path() / "reference";
  const ProcessResult ref =
      run_neft_process(train_args(c, reference), tmp.path().string(), {{"NEFT_CRASH_TRACE", "1"}});
  ASSERT_TRUE(ref.exited && ref.status == 0) << ref.err;
  // Off a terminal: plain lines, one per --log-every steps.
  EXPECT_EQ(ref.out.find('\r'), std::string::npos) << ref.out;
  EXPECT_EQ(ref.out.find('\033'), std::string::npos) << ref.out;
  EXPECT_EQ(ref.err.find('\033'), std::string::npos) << ref.err;
  EXPECT_THAT(ref.out, ::testing::HasSubstr("step 6/6 | loss"));
  const std::map<int64_t, std::string> ref_losses = logged_losses(reference / "metrics.jsonl");
  ASSERT_EQ(ref_losses.size(), 6u);
  const std::string ref_weights = slurp((reference / "model" / "model.safetensors").string());

  std::vector<std::string> moments;  // what each crash point does, in order
  std::istringstream trace(ref.err);
  for (std::string line; std::getline(trace, line);)
    if (const size_t at = line.find(": crash point "); at != std::string::npos)
      moments.push_back(line.substr(line.find(": ", at + 2) + 2));
  ASSERT_GE(moments.size(), 20u);
  int pruning = 0;
  for (size_t k = 1; k <= moments.size(); ++k) {
    SCOPED_TRACE("killed at crash point " + std::to_string(k) + ": " + moments[k - 1]);
    pruning += moments[k - 1].find("prun") != std::string::npos;
    const fs::path out = tmp.path() / ("killed-" + std::to_string(k));
    const ProcessResult killed = run_neft_process(train_args(c, out), tmp.path().string(),
                                                  {{"NEFT_CRASH_AT", std::to_string(k)}});
    ASSERT_FALSE(killed.exited) << killed.err;
    ASSERT_EQ(killed.status, SIGKILL);
    for (const train::CheckpointEntry& e : train::list_checkpoints(out)) expect_loadable(e.dir);

    std::vector<std::string> resume = train_args(c, out);
    resume.push_back("--resume");
    const ProcessResult resumed = run_neft_process(resume, tmp.path().string());
    ASSERT_TRUE(resumed.exited && resumed.status == 0) << resumed.err;
    EXPECT_EQ(logged_losses(out / "metrics.jsonl"), ref_losses);
    EXPECT_TRUE(slurp((out / "model" / "model.safetensors").string()) == ref_weights)
        << "final weights differ from the uninterrupted run's";
    for (const train::CheckpointEntry& e : train::list_checkpoints(out)) expect_loadable(e.dir);
    // Nothing of the killed run's temporaries is left once a run has completed.
    for (const fs::path& d : {out, train::checkpoints_dir(out)})
      for (const auto& entry : fs::directory_iterator(d))
        EXPECT_FALSE(is_temp_leftover(entry.path().filename().string())) << entry.path();
    fs::remove_all(out);
  }
  if (c.keep > 0) {
    EXPECT_GT(pruning, 0) << "no kill landed in a pruning";
  }
}

// Under mpirun at tp 2, where every rank writes its own file of each checkpoint and rank 0
// renames the directory into place: rank `victim` killed at each of its crash points (the
// other rank is ended by the launcher wherever it is, mid-write included). Every checkpoint
// under a complete name loads, and --resume gives the uninterrupted run's losses and final
// weights, bit for bit.
class KillResumeRanks : public ::testing::TestWithParam<int> {};

TEST_P(KillResumeRanks, EveryMomentOfEitherRankLeavesLoadableCheckpoints) {
  const int victim = GetParam();
  TempDir tmp;
  const KillCase c{"tp2", 2, 1};
  auto args = [&](const fs::path& out, bool resume) {
    // Four steps, two saves: each launch of the job costs seconds, and every moment of a
    // save is met in the first save already (the second adds its pruning).
    std::vector<std::string> a = train_args(c, out, 4);
    a.insert(a.end(), {"--tp", "2"});
    if (resume) a.push_back("--resume");
    return mpirun(a);
  };
  const std::map<std::string, std::string> env = {{"OMP_NUM_THREADS", "1"},
                                                  {"NEFT_CRASH_RANK", std::to_string(victim)}};
  auto with = [&](std::map<std::string, std::string> more) {
    more.insert(env.begin(), env.end());
    return more;
  };
  const fs::path reference = tmp.path() / "reference";
  const ProcessResult ref = wait_process(spawn_process(args(reference, false), tmp.path().string(),
                                                       with({{"NEFT_CRASH_TRACE", "1"}})));
  ASSERT_TRUE(ref.exited && ref.status == 0) << ref.err;
  const std::map<int64_t, std::string> ref_losses = logged_losses(reference / "metrics.jsonl");
  const std::string ref_weights = slurp((reference / "model" / "model.safetensors").string());
  size_t moments = 0;
  for (size_t at = ref.err.find(": crash point "); at != std::string::npos;
       at = ref.err.find(": crash point ", at + 1))
    ++moments;
  ASSERT_GE(moments, victim == 0 ? 10u : 6u) << ref.err;

  for (size_t k = 1; k <= moments; ++k) {
    SCOPED_TRACE("rank " + std::to_string(victim) + " killed at crash point " + std::to_string(k));
    const fs::path out = tmp.path() / ("killed-" + std::to_string(k));
    const ProcessResult killed = wait_process(spawn_process(
        args(out, false), tmp.path().string(), with({{"NEFT_CRASH_AT", std::to_string(k)}})));
    ASSERT_FALSE(killed.exited && killed.status == 0) << "the job was not killed";
    for (const train::CheckpointEntry& e : train::list_checkpoints(out)) expect_loadable(e.dir);
    const ProcessResult resumed =
        wait_process(spawn_process(args(out, true), tmp.path().string(), env));
    ASSERT_TRUE(resumed.exited && resumed.status == 0) << resumed.err;
    EXPECT_EQ(logged_losses(out / "metrics.jsonl"), ref_losses);
    EXPECT_TRUE(slurp((out / "model" / "model.safetensors").string()) == ref_weights)
        << "final weights differ from the uninterrupted run's";
    fs::remove_all(out);
  }
}

INSTANTIATE_TEST_SUITE_P(Saves, KillResumeRanks, ::testing::Values(0, 1),
                         [](const auto& info) { return "rank" + std::to_string(info.param); });

INSTANTIATE_TEST_SUITE_P(Saves, KillResume,
                         ::testing::Values(KillCase{"every_step_keep_1", 1, 1},
                                           KillCase{"every_other_step_keep_2", 2, 2}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace neft::testing
