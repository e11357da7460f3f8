// Communicator: the collectives and point-to-point operations of one process group (world,
// tp, pp or dp), behind one interface with two backends: MPI (host tensors, and device
// tensors staged through host memory) and NCCL (device tensors). Every operation that does
// not complete within the group's timeout ends the job with a message naming the group and
// the operation, instead of hanging.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace neft::parallel {

enum class ReduceOp { Sum, Max };

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

  // In place: t = op over the ranks of t (f32 and, on NCCL, bf16; i32 for Max/Sum).
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

 protected:
  uint64_t bytes_sent_ = 0;
};

}  // namespace neft::parallel
