#include "parallel/communicator.h"

#include <cstdlib>
#include <sstream>

#include "parallel/abort_job.h"
#include "runtime/error.h"

namespace neft::parallel {

const char* backend_name(Backend b) { return b == Backend::NCCL ? "nccl" : "mpi"; }

Backend backend_from_name(const std::string& name) {
  if (name == "mpi") return Backend::MPI;
  if (name == "nccl") return Backend::NCCL;
  fail("unknown communication backend '", name, "' (expected mpi or nccl)");
}

double default_comm_timeout_s() {
  const char* value = std::getenv("NEFT_COMM_TIMEOUT");
  if (!value) return kDefaultCommTimeoutSeconds;
  char* end = nullptr;
  const double seconds = std::strtod(value, &end);
  if (end == value || *end != '\0' || !(seconds > 0))
    fail("NEFT_COMM_TIMEOUT='", value, "' is not a positive number of seconds");
  return seconds;
}

void Communicator::set_timeout_s(double seconds) {
  if (!(seconds > 0)) fail("timeout of group ", name(), " must be positive, got ", seconds);
  timeout_s_ = seconds;
}

std::string Communicator::describe(const char* op) const {
  return std::string(op) + " on group " + name() + " (size " + std::to_string(size()) + ")";
}

void Communicator::end_job_after_timeout(const char* op) const {
  std::ostringstream seconds;
  seconds << timeout_s_;  // "2", "0.5": no trailing zeros
  abort_job(describe(op) + " did not complete within " + seconds.str() + " s; ending the job");
}

void Communicator::check_stacked(const Tensor& part, const Tensor& whole, const char* op) const {
  NEFT_CHECK(part.defined() && whole.defined(), describe(op), ": undefined tensor");
  bool ok = part.dtype() == whole.dtype() && part.dim() >= 1 && whole.dim() == part.dim();
  for (int d = 0; ok && d < part.dim(); ++d)
    ok = whole.size(d) == (d == 0 ? size() * part.size(0) : part.size(d));
  if (!ok)
    fail(describe(op), ": ", whole.str(), " is not ", size(), " stacked copies of ", part.str(),
         " along dim 0");
}

void Communicator::count_ring_bytes(size_t bytes, int passes) {
  const uint64_t s = uint64_t(size());
  bytes_sent_ += uint64_t(passes) * uint64_t(bytes) * (s - 1) / s;
}

}  // namespace neft::parallel
