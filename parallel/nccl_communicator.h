// The NCCL backend of Communicator (builds with CUDA only): device tensors (f32, bf16, f16,
// i32, i64) on the runtime's current stream, one NCCL communicator per group, bootstrapped
// with a unique id broadcast over the group's MPI communicator. Host tensors of the group
// (a loss, a count) go through that MPI communicator.
//
// Each operation enqueues its NCCL call and then polls an event recorded after it until the
// device is done or the timeout passes; then the NCCL communicator is aborted and the job
// ends. Waiting on the host is what makes the timeout enforceable; overlapping communication
// with compute needs another thread or stream and is not done here. The deadline starts
// once the call has been enqueued: NCCL sets up a peer connection on first use inside the
// call, and a peer that never arrives there blocks the host before it. The device must be
// chosen (select_device_for_local_rank) before the communicator is made. NCCL does not
// check that a send and its recv agree in size: that is the caller's duty.
#pragma once
#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>

#include "parallel/mpi_communicator.h"

namespace neft::parallel {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over the ranks of `host`. A group of one rank needs no NCCL communicator.
  explicit NcclCommunicator(std::unique_ptr<MpiCommunicator> host);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  const std::string& name() const override { return host_->name(); }
  void set_timeout_s(double seconds) override;

  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  void all_gather(const Tensor& in, Tensor& out) override;
  void reduce_scatter(const Tensor& in, Tensor& out) override;
  void broadcast(Tensor& t, int root) override;
  void send(const Tensor& t, int peer) override;
  void recv(Tensor& t, int peer) override;
  void batch_p2p(const std::vector<P2POp>& ops) override;
  void barrier() override;

 private:
  // True when every tensor is on the device (NCCL), false when every one is on the host
  // (MPI); a mix is an error.
  bool on_device(const char* op, std::initializer_list<const Tensor*> tensors) const;
  // Runs an operation of the host communicator, counting its bytes here too.
  template <class F>
  void on_host(F&& f);
  void check(ncclResult_t result, const char* op) const;
  ncclComm_t comm(const char* op) const;  // the live NCCL communicator
  // Until the work enqueued so far on the current stream is done, or the job ends.
  void wait(const char* op);

  std::unique_ptr<MpiCommunicator> host_;
  ncclComm_t comm_ = nullptr;
  cudaEvent_t done_ = nullptr;
};

}  // namespace neft::parallel
