// Stopping a run cleanly when it is asked to: SLURM sends SIGTERM before a preemption or at
// the time limit (SIGUSR1, or any signal, earlier with `#SBATCH --signal=USR1@180`), a user
// presses Ctrl-C (SIGINT). The signal only raises a flag; the training loop checks it after
// each step, agreeing over every rank (one 4-byte all-reduce per step, so a signal that
// reached only some ranks stops them all at the same step), writes a checkpoint and exits 0.
// A second SIGINT stops the process at once, as Ctrl-C twice does in the tools people know.
#pragma once
#include "parallel/communicator.h"

namespace neft::train {

// Installs the handlers for SIGTERM, SIGUSR1 and SIGINT (once per process).
void catch_stop_signals();
// The signal received since catch_stop_signals on any rank of `world` (null: this process
// only), 0 when none: collective over `world`, every rank gets the same answer.
int stop_signal(parallel::Communicator* world);
// "SIGTERM", "SIGUSR1", "SIGINT".
const char* signal_name(int signal);

}  // namespace neft::train
