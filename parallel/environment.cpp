#include "parallel/environment.h"

#include <mpi.h>

#include <cstdlib>
#include <exception>
#include <mutex>
#include <vector>

#include "runtime/error.h"

#ifdef NEFT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace neft::parallel {

namespace {

std::optional<ProcessEnvironment> g_environment;

ProcessEnvironment environment_from_mpi() {
  ProcessEnvironment e;
  MPI_Comm_rank(MPI_COMM_WORLD, &e.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &e.world_size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, e.rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &e.local_rank);
  MPI_Comm_size(node, &e.local_size);
  MPI_Comm_free(&node);
  return e;
}

void finalize_if_running() {
  if (mpi_running()) MPI_Finalize();
}

// Starts MPI if nobody has; true when this call started it.
bool start_mpi(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return false;
  // Only one thread at a time calls MPI (OpenMP workers never do).
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
  if (provided < MPI_THREAD_SERIALIZED)
    fail("MPI provides thread support level ", provided,
         "; neft needs MPI_THREAD_SERIALIZED or better");
  return true;
}

// Reads the environment once MPI runs (a collective: MPI_Comm_split_type).
void read_environment() {
  if (!g_environment)
    g_environment = cross_check_environment(environment_from_mpi(), getenv_lookup);
}

std::optional<int> int_variable(const EnvLookup& env, const std::string& name) {
  const std::optional<std::string> value = env(name);
  if (!value) return std::nullopt;
  char* end = nullptr;
  const long v = std::strtol(value->c_str(), &end, 10);
  if (value->empty() || *end != '\0' || v < 0 || v > 1 << 30)
    fail(name, "='", *value, "' is not a rank or a count");
  return int(v);
}

}  // namespace

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void ensure_mpi_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (start_mpi(nullptr, nullptr)) std::atexit(finalize_if_running);
  });
  read_environment();
}

MpiSession::MpiSession(int* argc, char*** argv) : started_(start_mpi(argc, argv)) {
  if (started_) std::atexit(finalize_if_running);
  read_environment();
}

MpiSession::~MpiSession() {
  if (started_ && std::uncaught_exceptions() == 0) finalize_if_running();
}

const ProcessEnvironment& process_environment() {
  if (!g_environment) ensure_mpi_initialized();
  return *g_environment;
}

std::optional<std::string> getenv_lookup(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? std::optional<std::string>(v) : std::nullopt;
}

ProcessEnvironment cross_check_environment(const ProcessEnvironment& mpi, const EnvLookup& env) {
  struct Check {
    const char* variable;
    int mpi_value;
    const char* what;
  };
  const bool openmpi = env("OMPI_COMM_WORLD_SIZE").has_value();
  const bool slurm = !openmpi && env("SLURM_PROCID").has_value();
  std::vector<Check> checks;
  if (openmpi) {
    checks = {{"OMPI_COMM_WORLD_RANK", mpi.rank, "rank"},
              {"OMPI_COMM_WORLD_SIZE", mpi.world_size, "world size"},
              {"OMPI_COMM_WORLD_LOCAL_RANK", mpi.local_rank, "local rank"},
              {"OMPI_COMM_WORLD_LOCAL_SIZE", mpi.local_size, "local size"}};
  } else if (slurm) {
    checks = {{"SLURM_PROCID", mpi.rank, "rank"},
              {"SLURM_STEP_NUM_TASKS", mpi.world_size, "world size"},
              {"SLURM_LOCALID", mpi.local_rank, "local rank"}};
  }
  for (const Check& c : checks) {
    const std::optional<int> v = int_variable(env, c.variable);
    if (v && *v != c.mpi_value)
      fail(c.variable, "=", *v, " but MPI reports ", c.what, " ", c.mpi_value, " (rank ", mpi.rank,
           " of ", mpi.world_size,
           "): the launched processes did not join one MPI job (use mpirun, or srun with MPI "
           "support such as --mpi=pmix)");
  }
  ProcessEnvironment e = mpi;
  e.launcher = openmpi ? "OpenMPI" : slurm ? "SLURM" : "none";
  return e;
}

int select_device_for_local_rank() {
#ifdef NEFT_WITH_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();  // clear the sticky "no device" error
    return -1;
  }
  const int device = process_environment().local_rank % count;
  const cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess)
    fail("cudaSetDevice(", device, ") for local rank ", process_environment().local_rank,
         " failed: ", cudaGetErrorString(e));
  return device;
#else
  return -1;
#endif
}

int world_rank_for_messages() {
  if (mpi_running()) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
  }
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "SLURM_PROCID", "PMI_RANK"}) {
    if (const char* v = std::getenv(name)) return std::atoi(v);
  }
  return 0;
}

}  // namespace neft::parallel
