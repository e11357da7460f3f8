#include "train/preemption.h"

#include <unistd.h>

#include <csignal>

#include "runtime/tensor.h"

namespace neft::train {

namespace {

volatile std::sig_atomic_t received = 0;

extern "C" void on_stop_signal(int signal) {
  if (signal == SIGINT && received == SIGINT) {
    // The second Ctrl-C: the default action, now.
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  if (signal == SIGINT) {
    // Said at once (write is async-signal-safe), since the step may take a while.
    const char text[] = "neft: stopping after this step (Ctrl-C again to stop at once)\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, text, sizeof text - 1);
  }
  received = signal;
}

}  // namespace

void catch_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a blocking read or collective goes on after the flag is set
  for (int signal : {SIGTERM, SIGUSR1, SIGINT}) sigaction(signal, &action, nullptr);
}

int stop_signal(parallel::Communicator* world) {
  const int mine = received;
  if (!world || world->size() == 1) return mine;
  Tensor flag = Tensor::from_ints({mine}, {1});
  world->all_reduce(flag, parallel::ReduceOp::Max);
  return flag.to_ints().front();
}

const char* signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGINT:
      return "SIGINT";
    default:
      return "a signal";
  }
}

}  // namespace neft::train
