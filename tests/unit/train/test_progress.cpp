// The progress line: h:mm:ss and rate formatting, what is printed when (log file, terminal,
// other ranks), smoothed throughput and the ETA, and the summary.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "train/progress.h"

namespace neft::train {
namespace {

TEST(LaunchProgress, FormatDuration) {
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(59.4), "0:00:59");
  EXPECT_EQ(format_duration(59.6), "0:01:00");
  EXPECT_EQ(format_duration(3661), "1:01:01");
  EXPECT_EQ(format_duration(100 * 3600.0), "100:00:00");
  EXPECT_EQ(format_duration(-1), "-:--:--");
  EXPECT_EQ(format_duration(NAN), "-:--:--");
  EXPECT_EQ(format_duration(INFINITY), "-:--:--");
}

TEST(LaunchProgress, FormatRate) {
  EXPECT_EQ(format_rate(0), "0");
  EXPECT_EQ(format_rate(950), "950");
  EXPECT_EQ(format_rate(12345), "12.3k");
  EXPECT_EQ(format_rate(4.56e6), "4.56M");
  EXPECT_EQ(format_rate(999.7), "1k");
  EXPECT_EQ(format_rate(2.5e9), "2.5G");
}

// A clock the test moves.
struct FakeClock {
  double now = 100.0;
  Progress::Clock clock() {
    return [this] { return now; };
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Steps of 0.5 s and 1000 tokens: 2000 tokens/s.
void run_steps(Progress& progress, FakeClock& clock, int64_t from, int64_t to) {
  for (int64_t step = from; step <= to; ++step) {
    clock.now += 0.5;
    progress.step({step, 1.0 / double(step), 1e-3, 0.25, 1000});
  }
}

TEST(LaunchProgress, LogFilePrintsEveryLogEverySteps) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress({.total_steps = 10, .log_every = 4}, out, false, clock.clock());
  run_steps(progress, clock, 1, 10);
  progress.finish();
  const std::vector<std::string> lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 5u) << out.str();  // the first step, 4, 8, the last, the summary
  EXPECT_EQ(lines[0].rfind("step 1/10 |", 0), 0u);
  EXPECT_EQ(lines[1],
            "step 4/10 | loss 0.2500 | lr 1.00e-03 | grad 0.250 | 2k tok/s | 0:00:02 | ETA "
            "0:00:03");
  EXPECT_EQ(lines[2].rfind("step 8/10 |", 0), 0u);
  EXPECT_EQ(lines[3].rfind("step 10/10 |", 0), 0u);
  EXPECT_NE(lines[3].find("| ETA 0:00:00"), std::string::npos);
  EXPECT_EQ(lines[4], "done: 10 steps in 0:00:05, 2k tok/s, final loss 0.1000");
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(LaunchProgress, ThroughputIsSmoothed) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress({.total_steps = 100, .log_every = 1000}, out, false, clock.clock());
  run_steps(progress, clock, 1, 20);
  // One slow step (5 s instead of 0.5 s) moves the rate a tenth of the way, not all the way.
  clock.now += 5.0;
  progress.step({21, 1.0, 1e-3, 0.25, 1000});
  EXPECT_NE(progress.line().find("| 1.05k tok/s |"), std::string::npos) << progress.line();
  // ETA: 79 steps at the smoothed 0.95 s.
  EXPECT_NE(progress.line().find("| ETA 0:01:15"), std::string::npos) << progress.line();
}

TEST(LaunchProgress, TerminalRewritesOneLine) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress({.total_steps = 4, .log_every = 1}, out, true, clock.clock());
  run_steps(progress, clock, 1, 2);
  progress.message("saved checkpoint step-00000002");
  run_steps(progress, clock, 3, 4);
  progress.finish();
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("\rstep 1/4 |", 0), 0u) << text;
  EXPECT_NE(text.find("\r\033[Ksaved checkpoint step-00000002\n\rstep 2/4 |"), std::string::npos)
      << text;
  const std::vector<std::string> lines = lines_of(text);
  ASSERT_EQ(lines.size(), 3u) << text;  // steps 1-2, the message + steps 2-4, the summary
  EXPECT_EQ(lines[2], "done: 4 steps in 0:00:02, 2k tok/s, final loss 0.2500");
}

TEST(LaunchProgress, ResumedAndStoppedRuns) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress({.total_steps = 100, .start_step = 50, .log_every = 10}, out, false,
                    clock.clock());
  run_steps(progress, clock, 51, 60);
  progress.finish();
  const std::vector<std::string> lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  EXPECT_EQ(lines[0].rfind("step 51/100 |", 0), 0u);
  EXPECT_EQ(lines[1].rfind("step 60/100 |", 0), 0u);
  EXPECT_EQ(lines[2], "stopped at step 60/100: 10 steps in 0:00:05, 2k tok/s, final loss 0.0167");
}

TEST(LaunchProgress, OtherRanksPrintNothing) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress({.total_steps = 3, .log_every = 1, .enabled = false}, out, false,
                    clock.clock());
  run_steps(progress, clock, 1, 3);
  progress.message("hello");
  progress.finish();
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace neft::train
