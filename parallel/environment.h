// Where this process sits in the job, and MPI's start and stop. Rank, local rank (on its
// node), world and local size come from MPI and are cross-checked with the launcher's
// variables (OpenMPI's mpirun, or SLURM's srun): a launcher that started N processes which
// did not join one MPI job (srun without MPI support starts N one-rank jobs) would
// otherwise train N separate models without a word. On CUDA, one device per local rank.
#pragma once
#include <functional>
#include <optional>
#include <string>

namespace neft::parallel {

struct ProcessEnvironment {
  int rank = 0, world_size = 1;        // in MPI_COMM_WORLD
  int local_rank = 0, local_size = 1;  // among the ranks sharing this node
  std::string launcher = "none";       // "OpenMPI", "SLURM" or "none" (whose variables agreed)
};

// MPI_Init has run and MPI_Finalize has not.
bool mpi_running();
// MPI_Init_thread once per process (the first caller wins; MPI_Finalize runs at exit), then
// the environment is read and cross-checked. Collective: every rank calls it.
void ensure_mpi_initialized();

// MPI for the lifetime of the object: main() holds one. Finalizes only what it started, and
// not while an exception unwinds through it: the handler that catches it ends the job with
// abort_job, which needs MPI running (a normal exit after that still finalizes).
class MpiSession {
 public:
  MpiSession(int* argc = nullptr, char*** argv = nullptr);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool started_ = false;
};

// This process's place, read once (initializing MPI if needed).
const ProcessEnvironment& process_environment();

// The launcher's variables checked against what MPI reports. OpenMPI's OMPI_COMM_WORLD_RANK,
// _SIZE, _LOCAL_RANK and _LOCAL_SIZE when set; else SLURM's SLURM_PROCID, SLURM_LOCALID and
// SLURM_STEP_NUM_TASKS (set for the tasks of an srun step; a batch script's own process has
// no step count, so a one-rank run there is accepted). Returns `mpi` with the launcher
// named; a disagreement or a variable that is not an integer is a one-line error naming it.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
ProcessEnvironment cross_check_environment(const ProcessEnvironment& mpi, const EnvLookup& env);
std::optional<std::string> getenv_lookup(const std::string& name);  // the process environment

// CUDA builds: cudaSetDevice(local_rank % device count), returns the device; call before any
// other CUDA work. Returns -1 without a visible GPU, and always in a build without CUDA.
int select_device_for_local_rank();

// The world rank for message prefixes: MPI's while it runs, else the launcher's variable,
// else 0. Never fails (it is used on the way out).
int world_rank_for_messages();

}  // namespace neft::parallel
