// Where a `neft` command sits in a multi-rank job. A launcher (mpirun, srun) starts one
// process per rank; main() starts MPI only then, so a plain `neft train` stays a single
// process without MPI. A command builds its ParallelJob from --tp / --pp: the process groups
// of the layout (TP innermost, then DP, then PP: parallel/process_groups.h) and who does
// what: world rank 0 prints, logs and writes files, the TP groups of its model replica (one per
// pipeline stage) gather the shards it writes and the stages send theirs to it, every rank
// takes part in training and (at pp 1) evaluation.
#pragma once
#include <optional>
#include <string>

#include "model/tensor_parallel.h"
#include "parallel/environment.h"
#include "parallel/process_groups.h"
#include "train/train_options.h"

namespace neft::train {

// True when a launcher started this process as a rank of an MPI job: OpenMPI's mpirun
// (OMPI_COMM_WORLD_SIZE), a PMIx or PMI launcher (PMIX_RANK, PMI_SIZE: srun --mpi=pmix,
// MPICH's mpiexec), or srun with more than one task (SLURM_STEP_NUM_TASKS > 1, where MPI
// then reports a job that was not joined).
bool started_by_mpi_launcher(const parallel::EnvLookup& env = parallel::getenv_lookup);

// The world size without a collective (safe on the way out): 1 while MPI is not running.
int running_world_size();
// This process's rank in the job (0 when MPI is not running), and a barrier over every rank
// (nothing on one process): for steps one rank does for all, between collective ones.
int running_world_rank();
void world_barrier();

class ParallelJob {
 public:
  // Collective over the world while MPI runs (every rank calls it with the same options);
  // without MPI, a one-process job, or a one-line error when the layout needs more ranks.
  // On CUDA each rank takes the device of its local rank first.
  static ParallelJob start(const ParallelOptions& options, const std::string& device);

  int rank() const { return groups_ ? groups_->rank : 0; }  // in the world
  int world_size() const { return groups_ ? groups_->layout.world() : 1; }
  parallel::Layout layout() const { return groups_ ? groups_->layout : parallel::Layout{}; }
  int dp_rank() const { return groups_ ? groups_->coords.dp : 0; }
  int dp_size() const { return layout().dp; }
  int pp_stage() const { return groups_ ? groups_->coords.pp : 0; }
  int pp_size() const { return layout().pp; }
  // Null in a one-process job.
  parallel::Communicator* tp() const { return groups_ ? groups_->tp.get() : nullptr; }
  parallel::Communicator* dp() const { return groups_ ? groups_->dp.get() : nullptr; }
  parallel::Communicator* pp() const { return groups_ ? groups_->pp.get() : nullptr; }
  parallel::Communicator* world() const { return groups_ ? groups_->world.get() : nullptr; }
  // This rank's share of the model (the whole model when tp is 1), with sequence parallelism
  // when the options asked for it and tp is more than 1.
  model::TensorParallel tensor_parallel() const;

  // World rank 0: prints, writes metrics, checkpoints and the final model.
  bool writes_output() const { return rank() == 0; }
  // The ranks whose shards make up what rank 0 writes: rank 0's model replica (dp 0), every
  // stage's TP group.
  bool holds_output_shards() const;
  // Rank 0's pipeline group (tp 0, dp 0: one rank per stage, rank 0 its stage 0) on the ranks
  // in it, over which the stages' gathered tensors reach rank 0; null elsewhere and at pp 1.
  parallel::Communicator* output_stages() const;
  // Every rank waits for the others (e.g. until rank 0 has renamed a checkpoint into place).
  void barrier() const;
  // "tp 2 x dp 2 (4 ranks)" (", sequence-parallel" after it when on), for the header line.
  std::string describe() const;

 private:
  std::optional<parallel::ProcessGroups> groups_;
  bool sequence_parallel_ = false;
};

}  // namespace neft::train
