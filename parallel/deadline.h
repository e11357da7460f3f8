// Polling an operation until it completes or its deadline passes, without starving the
// other ranks of a shared core: spin briefly (latency), then yield, and on a long wait (a
// pipeline bubble, a slow rank) sleep between polls.
#pragma once
#include <chrono>
#include <thread>

namespace neft::parallel {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Deadline(double seconds)
      : start_(Clock::now()),
        end_(start_ +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))) {}

  bool passed() const { return Clock::now() > end_; }

  void back_off() const {
    using namespace std::chrono_literals;
    const Clock::duration waited = Clock::now() - start_;
    if (waited < 50us) return;
    if (waited < 100ms) return std::this_thread::yield();
    std::this_thread::sleep_for(200us);
  }

 private:
  Clock::time_point start_, end_;
};

}  // namespace neft::parallel
