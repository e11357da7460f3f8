#include "train/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace neft::train {

namespace {

// Weight of the newest step in the moving averages: about the last 10 steps count.
constexpr double kSmoothing = 0.1;
// In place, redraw at most this often: a terminal cannot show faster and writing costs.
constexpr double kRedrawSeconds = 0.1;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

size_t terminal_columns() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

std::string printf_string(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-:--:--";
  const auto total = int64_t(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(total / 3600),
                (long long)(total / 60 % 60), (long long)(total % 60));
  return buf;
}

std::string format_rate(double per_second) {
  if (!std::isfinite(per_second) || per_second < 0) return "-";
  static const char* const kSuffixes[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (per_second >= 999.5 && i < 4) per_second /= 1000, ++i;
  return printf_string("%.3g", per_second) + kSuffixes[i];
}

// Whether a person watches stdout. Open MPI hands each rank a pseudo-terminal whatever
// mpirun's own output is (a SLURM log, a file), so under a launcher a terminal proves nothing:
// plain lines there, as for any output that is not a terminal.
static bool stdout_is_watched() {
  for (const char* launcher : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_PROCID"})
    if (std::getenv(launcher)) return false;
  return isatty(STDOUT_FILENO) != 0;
}

Progress::Progress(const ProgressConfig& config)
    : Progress(config, std::cout, stdout_is_watched(), &steady_seconds) {
  if (in_place_) width_ = terminal_columns();
}

Progress::Progress(const ProgressConfig& config, std::ostream& out, bool in_place, Clock clock)
    : config_(config), out_(&out), in_place_(in_place), clock_(std::move(clock)) {
  start_time_ = last_step_time_ = clock_();
  last_.step = config_.start_step;
}

Progress::~Progress() {
  // Leave the cursor on a fresh line when the run ends without finish() (an exception).
  if (config_.enabled && in_place_ && line_drawn_ && !finished_) *out_ << "\n" << std::flush;
}

std::string Progress::line() const {
  const double tokens_per_second = step_seconds_ > 0 ? step_tokens_ / step_seconds_ : 0;
  const double eta = double(config_.total_steps - last_.step) * step_seconds_;
  return "step " + std::to_string(last_.step) + "/" + std::to_string(config_.total_steps) +
         " | loss " + printf_string("%.4f", last_.loss) + " | lr " +
         printf_string("%.2e", last_.lr) + " | grad " + printf_string("%.3f", last_.grad_norm) +
         " | " + format_rate(tokens_per_second) + " tok/s | " +
         format_duration(last_step_time_ - start_time_) + " | ETA " + format_duration(eta);
}

void Progress::step(const StepStats& stats) {
  const double now = clock_();
  const double seconds = now - last_step_time_;
  // The first step seeds the averages instead of being diluted by a zero start.
  const double weight = steps_seen_ == 0 ? 1.0 : kSmoothing;
  step_seconds_ += weight * (seconds - step_seconds_);
  step_tokens_ += weight * (double(stats.tokens) - step_tokens_);
  last_step_time_ = now;
  last_ = stats;
  ++steps_seen_;
  tokens_seen_ += stats.tokens;
  if (!config_.enabled) return;

  const bool last_step = stats.step >= config_.total_steps;
  if (in_place_) {
    if (last_step || now - last_draw_time_ >= kRedrawSeconds || last_draw_time_ < 0) {
      draw();
      last_draw_time_ = now;
    }
  } else if (steps_seen_ == 1 || last_step || stats.step % config_.log_every == 0) {
    *out_ << line() << "\n" << std::flush;
  }
}

void Progress::draw() {
  std::string text = line();
  if (width_ > 1 && text.size() >= width_)
    text.resize(width_ - 1);  // a wrapped line cannot be redrawn
  // \r returns to the line start, ESC[K erases what a longer previous line left.
  *out_ << "\r" << text << "\033[K" << std::flush;
  line_drawn_ = true;
}

void Progress::message(const std::string& text) {
  if (!config_.enabled) return;
  if (in_place_ && line_drawn_) {
    *out_ << "\r\033[K" << text << "\n";
    draw();
  } else {
    *out_ << text << "\n" << std::flush;
  }
}

void Progress::finish() {
  if (!config_.enabled || finished_) return;
  finished_ = true;
  if (in_place_ && line_drawn_) {
    draw();  // the final values, which the redraw limit may have skipped
    *out_ << "\n";
  }
  const double elapsed = last_step_time_ - start_time_;
  const bool complete = last_.step >= config_.total_steps;
  *out_ << (complete ? "done: "
                     : "stopped at step " + std::to_string(last_.step) + "/" +
                           std::to_string(config_.total_steps) + ": ")
        << steps_seen_ << (steps_seen_ == 1 ? " step" : " steps") << " in "
        << format_duration(elapsed) << ", "
        << format_rate(elapsed > 0 ? double(tokens_seen_) / elapsed : 0) << " tok/s";
  if (steps_seen_ > 0) *out_ << ", final loss " << printf_string("%.4f", last_.loss);
  *out_ << "\n" << std::flush;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace neft::train
