// The checkpoint directory: saves become visible only when complete, an interrupted save
// leaves the previous checkpoint in force, crash leftovers are never loaded, pruning keeps
// the newest, and `latest` falls back to the highest complete step.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <vector>

#include "runtime/error.h"
#include "tests/unit/temp_dir.h"
#include "train/checkpoint_dir.h"

namespace neft::train {
namespace {

namespace fs = std::filesystem;
using ::neft::testing::read_text;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;

// A writer that stores `text` in state.txt (and a nested file, to exercise the tree flush).
CheckpointWriter writes(const std::string& text) {
  return [text](const fs::path& dir) {
    write_text(dir / "state.txt", text);
    fs::create_directories(dir / "shards");
    write_text(dir / "shards" / "0.bin", text);
  };
}

std::vector<int64_t> steps_in(const fs::path& out) {
  std::vector<int64_t> steps;
  for (const CheckpointEntry& e : list_checkpoints(out)) steps.push_back(e.step);
  return steps;
}

TEST(LaunchCheckpointDir, Names) {
  EXPECT_EQ(checkpoint_name(100), "step-00000100");
  EXPECT_EQ(checkpoint_name(123456789), "step-123456789");
  EXPECT_EQ(checkpoint_step("out/checkpoints/step-00000100"), 100);
  EXPECT_EQ(checkpoint_step("step-123456789"), 123456789);
  for (const char* other : {"step-00000100.tmp-42", "step-", "step-12a", "latest", "step--1"})
    EXPECT_FALSE(checkpoint_step(other).has_value()) << other;
}

TEST(LaunchCheckpointDir, SaveThenFind) {
  TempDir tmp;
  const fs::path out = tmp.path() / "run";  // does not exist yet
  EXPECT_FALSE(find_latest_checkpoint(out).has_value());
  const fs::path saved = save_checkpoint(out, 100, writes("hundred"), 2);
  EXPECT_EQ(saved, out / "checkpoints" / "step-00000100");
  EXPECT_EQ(read_text(out / "checkpoints" / "latest"), "step-00000100\n");
  ASSERT_EQ(find_latest_checkpoint(out), saved);
  EXPECT_EQ(read_text(saved / "state.txt"), "hundred");
  EXPECT_EQ(read_text(saved / "shards" / "0.bin"), "hundred");
  // Nothing but the checkpoint and `latest` is left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(out / "checkpoints")) ++entries;
  EXPECT_EQ(entries, 2u);
}

TEST(LaunchCheckpointDir, InterruptedSaveLeavesThePreviousCheckpoint) {
  TempDir tmp;
  const fs::path out = tmp.path();
  const fs::path first = save_checkpoint(out, 100, writes("hundred"), 2);
  const CheckpointWriter crashes = [](const fs::path& dir) {
    write_text(dir / "state.txt", "half written");
    throw std::runtime_error("disk full");
  };
  EXPECT_THROW(
      {
        try {
          save_checkpoint(out, 200, crashes, 2);
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "disk full");  // the writer's own error propagates
          throw;
        }
      },
      std::runtime_error);
  EXPECT_EQ(read_text(out / "checkpoints" / "latest"), "step-00000100\n");
  ASSERT_EQ(find_latest_checkpoint(out), first);
  EXPECT_EQ(read_text(first / "state.txt"), "hundred");
  EXPECT_EQ(steps_in(out), (std::vector<int64_t>{100}));
  for (const auto& e : fs::directory_iterator(out / "checkpoints"))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(LaunchCheckpointDir, CrashLeftoversAreNeverLoaded) {
  TempDir tmp;
  const fs::path out = tmp.path();
  save_checkpoint(out, 100, writes("hundred"), 0);
  const fs::path second = save_checkpoint(out, 200, writes("two hundred"), 0);
  // A process killed mid-save leaves its temporary directory, with a higher step.
  const fs::path leftover = out / "checkpoints" / "step-00000300.tmp-99999";
  fs::create_directories(leftover);
  write_text(leftover / "state.txt", "torn");
  EXPECT_EQ(find_latest_checkpoint(out), second);
  fs::remove(out / "checkpoints" / "latest");  // even when falling back to the highest step
  EXPECT_EQ(find_latest_checkpoint(out), second);
  EXPECT_EQ(steps_in(out), (std::vector<int64_t>{100, 200}));
}

TEST(LaunchCheckpointDir, LatestFallsBackToTheHighestCompleteStep) {
  TempDir tmp;
  const fs::path out = tmp.path();
  save_checkpoint(out, 100, writes("a"), 0);
  const fs::path second = save_checkpoint(out, 200, writes("b"), 0);
  const fs::path latest = out / "checkpoints" / "latest";
  for (const char* contents : {"step-00000500\n", "../../elsewhere\n", "", "garbage"}) {
    write_text(latest, contents);
    EXPECT_EQ(find_latest_checkpoint(out), second) << contents;
  }
  fs::remove(latest);
  EXPECT_EQ(find_latest_checkpoint(out), second);
  // `latest` is authoritative while it names a complete checkpoint.
  write_text(latest, "step-00000100\n");
  EXPECT_EQ(find_latest_checkpoint(out), out / "checkpoints" / "step-00000100");
}

TEST(LaunchCheckpointDir, KeepsTheNewest) {
  TempDir tmp;
  for (int64_t step : {100, 200, 300, 400})
    save_checkpoint(tmp.path() / "two", step, writes("x"), 2);
  EXPECT_EQ(steps_in(tmp.path() / "two"), (std::vector<int64_t>{300, 400}));
  for (int64_t step : {100, 200, 300}) save_checkpoint(tmp.path() / "one", step, writes("x"), 1);
  EXPECT_EQ(steps_in(tmp.path() / "one"), (std::vector<int64_t>{300}));
  for (int64_t step : {100, 200, 300}) save_checkpoint(tmp.path() / "all", step, writes("x"), 0);
  EXPECT_EQ(steps_in(tmp.path() / "all"), (std::vector<int64_t>{100, 200, 300}));
}

TEST(LaunchCheckpointDir, ResavingAnEarlierStepDropsTheAbandonedLaterOnes) {
  TempDir tmp;
  const fs::path out = tmp.path();
  const CheckpointWriter old_writer = [](const fs::path& dir) {
    writes("old")(dir);
    write_text(dir / "only-old.txt", "");
  };
  for (int64_t step : {100, 200, 300}) save_checkpoint(out, step, old_writer, 0);
  // A run resumed from step 100 reaches step 200 again: its step-200 replaces the old one and
  // the old run's step 300, a history that no longer happened, goes.
  const fs::path again = save_checkpoint(out, 200, writes("new"), 0);
  EXPECT_EQ(steps_in(out), (std::vector<int64_t>{100, 200}));
  EXPECT_EQ(find_latest_checkpoint(out), again);
  EXPECT_EQ(read_text(again / "state.txt"), "new");
  EXPECT_FALSE(fs::exists(again / "only-old.txt"));  // replaced, not merged
}

// What killed saves, prunings and model links leave is removed at the next run's start, and
// nothing else is.
TEST(LaunchCheckpointDir, RunLeftoversAreRemovedAndNothingElse) {
  TempDir tmp;
  const fs::path out = tmp.path(), dir = out / "checkpoints";
  const std::vector<fs::path> leftovers{dir / "step-00000050.tmp-99999",
                                        dir / "step-00000040.tmp-99999-pruned",
                                        dir / "step-00000030.tmp-7-replaced",
                                        out / "model.tmp-99999", out / "model.tmp-99999-replaced"};
  for (const fs::path& p : leftovers) fs::create_directories(p / "sub");
  write_text((dir / "latest.tmp.99999.0").string(), "step-0000");
  write_text((out / "metrics.jsonl.tmp.4242.3").string(), "{");
  save_checkpoint(out, 100, writes("x"), 2);
  write_text((out / "metrics.jsonl").string(), "{}\n");
  write_text((out / "notes.tmp.txt").string(), "mine");  // not a writer's temporary
  fs::create_directories(out / "model");
  remove_run_leftovers(out);
  for (const fs::path& p : leftovers) EXPECT_FALSE(fs::exists(p)) << p;
  EXPECT_FALSE(fs::exists(dir / "latest.tmp.99999.0"));
  EXPECT_FALSE(fs::exists(out / "metrics.jsonl.tmp.4242.3"));
  for (const char* kept : {"checkpoints/step-00000100", "checkpoints/latest", "metrics.jsonl",
                           "notes.tmp.txt", "model"})
    EXPECT_TRUE(fs::exists(out / kept)) << kept;
}

// Pruning renames a checkpoint away before deleting it, and leaves no temporary behind.
TEST(LaunchCheckpointDir, PruningLeavesOnlyCompleteCheckpoints) {
  TempDir tmp;
  for (int64_t step : {10, 20, 30}) save_checkpoint(tmp.path(), step, writes("x"), 1);
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path() / "checkpoints"))
    names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"latest", "step-00000030"}));
}

TEST(LaunchCheckpointDir, UnwritableOutputNamesThePath) {
  TempDir tmp;
  const fs::path file = tmp.path() / "not-a-dir";
  write_text(file, "x");
  try {
    save_checkpoint(file, 100, writes("x"), 2);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot create directory " + (file / "checkpoints").string()),
              std::string::npos)
        << message;
  }
}

}  // namespace
}  // namespace neft::train
