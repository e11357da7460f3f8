// The progress line of long work (training steps): step i/N, loss, learning rate, gradient
// norm, smoothed tokens/s, elapsed time and ETA. On a terminal the line is rewritten in place;
// in a log file it is printed every log-every steps. Only rank 0 prints (`enabled`).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace neft::train {

// Seconds since `start` on the monotonic clock: the "done in 12.3 s" of a command's last line.
double seconds_since(std::chrono::steady_clock::time_point start);

struct ProgressConfig {
  int64_t total_steps = 0;
  int64_t start_step = 0;  // steps done before this invocation (a resumed run)
  int64_t log_every = 10;  // when not in place: print every this many steps
  bool enabled = true;     // false on every rank but 0
};

// What one optimizer step reports.
struct StepStats {
  int64_t step = 0;  // steps completed, start_step + 1 .. total_steps
  double loss = 0;
  double lr = 0;
  double grad_norm = 0;
  int64_t tokens = 0;  // tokens this step trained on (all ranks together)
};

class Progress {
 public:
  using Clock = std::function<double()>;  // monotonic seconds

  // Prints to stdout, in place when stdout is a terminal.
  explicit Progress(const ProgressConfig& config);
  // For tests: any stream, an explicit mode and clock.
  Progress(const ProgressConfig& config, std::ostream& out, bool in_place, Clock clock);
  ~Progress();

  void step(const StepStats& stats);
  // A line of its own (a checkpoint saved, an evaluation result) that does not garble the
  // in-place line.
  void message(const std::string& line);
  // The summary: steps done in this invocation, wall time, mean tokens/s, final loss.
  void finish();

  // The current line, "step 120/1000 | loss 2.3456 | ...".
  std::string line() const;

 private:
  void draw();

  ProgressConfig config_;
  std::ostream* out_;
  bool in_place_;
  Clock clock_;
  size_t width_ = 0;  // terminal columns when in place: longer lines would wrap
  double start_time_ = 0, last_step_time_ = 0, last_draw_time_ = -1;
  double step_seconds_ = 0, step_tokens_ = 0;  // exponential moving averages
  int64_t steps_seen_ = 0, tokens_seen_ = 0;
  StepStats last_;
  bool line_drawn_ = false, finished_ = false;
};

// "h:mm:ss" (hours unbounded); "-:--:--" for a negative or non-finite time.
std::string format_duration(double seconds);
// "950", "12.3k", "4.56M", "1.2G".
std::string format_rate(double per_second);

}  // namespace neft::train
