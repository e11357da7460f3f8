#include "train/parallel_job.h"

#include <mpi.h>

#include <cstdlib>

#include "runtime/error.h"

namespace neft::train {

bool started_by_mpi_launcher(const parallel::EnvLookup& env) {
  if (env("OMPI_COMM_WORLD_SIZE") || env("PMIX_RANK") || env("PMI_SIZE")) return true;
  const std::optional<std::string> tasks = env("SLURM_STEP_NUM_TASKS");
  return tasks && std::atoi(tasks->c_str()) > 1;
}

int running_world_size() {
  if (!parallel::mpi_running()) return 1;
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

int running_world_rank() {
  if (!parallel::mpi_running()) return 0;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

void world_barrier() {
  if (parallel::mpi_running()) MPI_Barrier(MPI_COMM_WORLD);
}

ParallelJob ParallelJob::start(const ParallelOptions& o, const std::string& device) {
  const int64_t model_ranks = o.tp * o.pp;
  const int world = running_world_size();
  if (world % model_ranks != 0)
    fail("--tp ", o.tp, " x --pp ", o.pp, " needs a multiple of ", model_ranks,
         " ranks, and this job has ", world, (world == 1 ? " process" : " ranks"),
         ": launch it with `mpirun -np N neft ...` or `srun -n N neft ...`, N a multiple of ",
         model_ranks);
  ParallelJob job;
  job.sequence_parallel_ = o.sequence_parallel;
  if (!parallel::mpi_running()) return job;  // one process: nothing to set up
  if (device == "cuda") parallel::select_device_for_local_rank();
  job.groups_.emplace(
      parallel::make_process_groups(int(o.tp), int(o.pp), o.backend(device), o.comm_timeout));
  return job;
}

model::TensorParallel ParallelJob::tensor_parallel() const {
  if (!groups_) return {};
  return {groups_->tp.get(), groups_->tp->rank(), groups_->tp->size(),
          sequence_parallel_ && groups_->tp->size() > 1};
}

bool ParallelJob::holds_output_shards() const { return !groups_ || groups_->coords.dp == 0; }

parallel::Communicator* ParallelJob::output_stages() const {
  if (!groups_ || groups_->layout.pp == 1) return nullptr;
  return groups_->coords.dp == 0 && groups_->coords.tp == 0 ? groups_->pp.get() : nullptr;
}

void ParallelJob::barrier() const {
  if (groups_) groups_->world->barrier();
}

std::string ParallelJob::describe() const {
  const parallel::Layout l = layout();
  std::string text = "tp " + std::to_string(l.tp);
  if (l.pp > 1) text += " x pp " + std::to_string(l.pp);
  text += " x dp " + std::to_string(l.dp) + " (" + std::to_string(l.world()) + " ranks)";
  if (tensor_parallel().sequence_parallel) text += ", sequence-parallel";
  return text;
}

}  // namespace neft::train
