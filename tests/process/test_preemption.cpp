// Preemption under mpirun (np 2, tp 2), as SLURM does it: SIGTERM to every rank mid-run. The
// job finishes its step, writes a checkpoint and exits 0 with one line from rank 0; resumed,
// it gives the losses and final weights of the run that was never interrupted, bit for bit.
// A signal to one rank only stops every rank at the same step (the ranks agree each step).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/json_file.h"
#include "tests/process/logged_losses.h"
#include "tests/process/run_process.h"
#include "tests/unit/temp_dir.h"
#include "train/checkpoint_dir.h"

namespace neft::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kSteps = 40;

// Steps long enough (seq 128) that a signal lands mid-run, a run short enough for a test; at
// tp 2 under mpirun, or on one process.
std::vector<std::string> train_args(const fs::path& out, bool tp2 = true) {
  std::vector<std::string> args{"train",
                                "--model",
                                "tiny",
                                "--steps",
                                std::to_string(kSteps),
                                "--micro-batch",
                                "4",
                                "--seq-len",
                                "128",
                                "--tasks",
                                "copy,sort",
                                "--eval-examples",
                                "2",
                                "--log-every",
                                "1",
                                "--save-every",
                                "1000",
                                "--out",
                                out.string()};
  if (tp2) args.insert(args.end(), {"--tp", "2"});
  return args;
}

const std::map<std::string, std::string> kEnv = {{"OMP_NUM_THREADS", "1"},
                                                 {"OMP_WAIT_POLICY", "passive"}};

// Polls `done` every few milliseconds for up to two minutes; whether it came true.
template <class F>
bool eventually(F&& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// The processes whose parent is `parent` (mpirun's ranks).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> kids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
    const size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(text.substr(close + 2));
    char state = 0;
    pid_t ppid = -1;
    rest >> state >> ppid;
    if (ppid == parent) kids.push_back(pid_t(std::stoi(name)));
  }
  return kids;
}

// Runs the job and signals it (every rank, or one of them) once its log shows
// `after` steps; the job's result.
ProcessResult interrupted_run(const fs::path& out, const fs::path& scratch, bool every_rank,
                              int signal) {
  const Spawned job = spawn_process(mpirun(train_args(out)), scratch.string(), kEnv, "-job");
  EXPECT_TRUE(eventually([&] { return logged_losses(out / "metrics.jsonl").size() >= 3; }));
  std::vector<pid_t> ranks = children_of(job.pid);
  EXPECT_EQ(ranks.size(), 2u);
  if (!every_rank && !ranks.empty()) ranks.resize(1);
  for (pid_t rank : ranks) kill(rank, signal);
  return wait_process(job);
}

class Preemption : public ::testing::TestWithParam<bool> {};

TEST_P(Preemption, SignalledRunCheckpointsExitsZeroAndResumesBitwise) {
  const bool every_rank = GetParam();
  TempDir tmp;
  const fs::path reference = tmp.path() / "reference", out = tmp.path() / "run";
  const ProcessResult ref =
      wait_process(spawn_process(mpirun(train_args(reference)), tmp.path().string(), kEnv, "-ref"));
  ASSERT_TRUE(ref.exited && ref.status == 0) << ref.err;
  const std::map<int64_t, std::string> want = logged_losses(reference / "metrics.jsonl");
  ASSERT_EQ(want.size(), size_t(kSteps));

  const ProcessResult stopped = interrupted_run(out, tmp.path(), every_rank, SIGTERM);
  ASSERT_TRUE(stopped.exited) << "ended by signal " << stopped.status << ": " << stopped.err;
  EXPECT_EQ(stopped.status, 0) << stopped.err;
  const auto latest = train::find_latest_checkpoint(out);
  ASSERT_TRUE(latest.has_value()) << stopped.out;
  const int64_t step = *train::checkpoint_step(*latest);
  ASSERT_LT(step, kSteps) << "the signal came after the last step; the test proves nothing";
  // One line, from rank 0 only, naming the signal and the checkpoint.
  EXPECT_EQ(logged_losses(out / "metrics.jsonl").size(), size_t(step));
  const std::string line = "received SIGTERM: saved " + latest->string() + " and stopped";
  size_t count = 0;
  for (size_t at = stopped.out.find(line); at != std::string::npos;
       at = stopped.out.find(line, at + 1))
    ++count;
  EXPECT_EQ(count, 1u) << stopped.out;
  EXPECT_FALSE(fs::exists(out / "model")) << "a stopped run has no final model yet";

  std::vector<std::string> resume = train_args(out);
  resume.push_back("--resume");
  const ProcessResult resumed =
      wait_process(spawn_process(mpirun(resume), tmp.path().string(), kEnv, "-resume"));
  ASSERT_TRUE(resumed.exited && resumed.status == 0) << resumed.err;
  EXPECT_EQ(logged_losses(out / "metrics.jsonl"), want);
  EXPECT_TRUE(slurp((out / "model" / "model.safetensors").string()) ==
              slurp((reference / "model" / "model.safetensors").string()))
      << "final weights differ from the uninterrupted run's";
}

// Ctrl-C on a single process: once, the run stops at the end of its step with a checkpoint
// (exit 0); twice, it stops at once, as the default action of SIGINT does. The steps here take
// ~1 s (48 x 256 tokens), so the second Ctrl-C, 100 ms after the first was taken, lands
// mid-step.
TEST(Preemption, CtrlCOnceCheckpointsAndTwiceStopsAtOnce) {
  TempDir tmp;
  for (const int presses : {1, 2}) {
    const fs::path out = tmp.path() / ("ctrl-c-" + std::to_string(presses));
    const std::vector<std::string> args{
        NEFT_BINARY,       "train", "--model",     "tiny", "--steps", "20",
        "--micro-batch",   "48",    "--seq-len",   "256",  "--tasks", "copy",
        "--eval-examples", "2",     "--log-every", "1",    "--out",   out.string()};
    const Spawned run = spawn_process(args, tmp.path().string(), kEnv, "-ctrl-c");
    bool ready = eventually([&] { return !logged_losses(out / "metrics.jsonl").empty(); });
    kill(run.pid, SIGINT);
    if (ready && presses == 2) {
      ready =
          eventually([&] { return slurp(run.err_path).find("Ctrl-C again") != std::string::npos; });
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      kill(run.pid, SIGINT);
    }
    const ProcessResult r = wait_process(run);
    ASSERT_TRUE(ready) << "the run did not get going: " << r.err;
    if (presses == 1) {
      EXPECT_TRUE(r.exited && r.status == 0) << r.err;
      EXPECT_THAT(r.out, ::testing::HasSubstr("received SIGINT: saved"));
      EXPECT_TRUE(train::find_latest_checkpoint(out).has_value());
    } else {
      EXPECT_FALSE(r.exited) << r.out;
      EXPECT_EQ(r.status, SIGINT);
      EXPECT_FALSE(train::find_latest_checkpoint(out).has_value());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Signal, Preemption, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "EveryRank" : "OneRankOnly"; });

}  // namespace
}  // namespace neft::testing
