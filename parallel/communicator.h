// Communicator: the collectives and point-to-point operations of one process group (world,
// tp, pp or dp), behind one interface with two backends: MPI (host tensors, and device
// tensors staged through host memory) and NCCL (device tensors). Every operation that does
// not complete within the group's timeout ends the job with a message naming the group and
// the operation, instead of hanging.
//
// Every operation returns when its result is ready to read (the NCCL backend also waits for
// the device, which is what lets the host enforce the timeout).
//
// bytes_sent() counts what a bandwidth-optimal ring sends per rank, whatever the backend
// actually does, so that the volume is comparable across backends and layouts. For a group
// of S ranks and a buffer of B bytes (the full tensor of the operation, in its own dtype):
//   all_reduce      2 (S-1)/S B            reduce_scatter  (S-1)/S B, B = the input
//   all_gather      (S-1)/S B, B = output  broadcast       (S-1)/S B (a chain, on average)
//   send            B                      recv, barrier   0
// Each fraction is rounded down; a group of one rank sends nothing.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace neft::parallel {

enum class ReduceOp { Sum, Max };

// MPI: host tensors, and device tensors through host copies. NCCL: device tensors (host
// tensors of an NCCL group go through MPI); needs a build with CUDA.
enum class Backend { MPI, NCCL };
const char* backend_name(Backend b);                 // "mpi", "nccl"
Backend backend_from_name(const std::string& name);  // one-line error naming other values

// How long one operation may take before it ends the job.
inline constexpr double kDefaultCommTimeoutSeconds = 300;
// NEFT_COMM_TIMEOUT (seconds) when set, else kDefaultCommTimeoutSeconds; a value that is
// not a positive number is a one-line error naming the variable.
double default_comm_timeout_s();

// One send or receive of a grouped point-to-point batch (all posted, then all completed).
struct P2POp {
  enum Kind { Send, Recv } kind;
  Tensor* tensor;  // contiguous; Recv overwrites it
  int peer;        // rank within the group
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const std::string& name() const = 0;  // "world", "tp", "pp", "dp" (for messages)

  // In place: t = op over the ranks of t. f32, bf16, f16 and i32 (MPI reduces bf16 and f16
  // in f32, rounding once at the end).
  virtual void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  // out [size * n, ...] = every rank's in [n, ...], in rank order along dim 0.
  virtual void all_gather(const Tensor& in, Tensor& out) = 0;
  // out [n, ...] = the sum over ranks of this rank's block of in [size * n, ...].
  virtual void reduce_scatter(const Tensor& in, Tensor& out) = 0;
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void send(const Tensor& t, int peer) = 0;
  virtual void recv(Tensor& t, int peer) = 0;
  virtual void batch_p2p(const std::vector<P2POp>& ops) = 0;
  virtual void barrier() = 0;

  // Payload bytes this rank has sent through this communicator (communication volume).
  uint64_t bytes_sent() const { return bytes_sent_; }

  // Seconds one operation may take before the job is ended.
  double timeout_s() const { return timeout_s_; }
  virtual void set_timeout_s(double seconds);

 protected:
  // "neft: rank R: <op> on group <name> (size S) did not complete within T s; ending the
  // job" on stderr, then the whole job ends (parallel/abort_job.h).
  [[noreturn]] void end_job_after_timeout(const char* op) const;
  // "<op> on group <name> (size S)": how every message about an operation starts.
  std::string describe(const char* op) const;
  // part [n, ...] and whole [size * n, ...] of one dtype (all_gather, reduce_scatter).
  void check_stacked(const Tensor& part, const Tensor& whole, const char* op) const;
  // Adds passes * (S-1)/S * bytes to bytes_sent_ (the ring volume above).
  void count_ring_bytes(size_t bytes, int passes);

  uint64_t bytes_sent_ = 0;
  double timeout_s_ = kDefaultCommTimeoutSeconds;
};

}  // namespace neft::parallel
