// The MPI backend of Communicator. Host tensors go to MPI directly; device tensors are
// copied to host memory and back, which is slow but lets many ranks share one GPU (how
// multi-rank runs are tested on a single device). Every operation uses MPI's nonblocking
// form and is polled until it completes or the group's timeout passes, which ends the job.
//
// Data: all_gather, broadcast and point-to-point move bytes, so any dtype; all_reduce and
// reduce_scatter take f32 and i32 (and i64), and bf16/f16 reduced in f32.
#pragma once
#include <mpi.h>

#include <string>
#include <vector>

#include "parallel/communicator.h"

namespace neft::parallel {

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm` (freed by the destructor); errors come back to us as return
  // codes (MPI_ERRORS_RETURN) and are thrown as one-line neft::Error.
  MpiCommunicator(MPI_Comm comm, std::string name, double timeout_s);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& name() const override { return name_; }
  MPI_Comm comm() const { return comm_; }

  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  void all_gather(const Tensor& in, Tensor& out) override;
  void reduce_scatter(const Tensor& in, Tensor& out) override;
  void broadcast(Tensor& t, int root) override;
  void send(const Tensor& t, int peer) override;
  void recv(Tensor& t, int peer) override;
  void batch_p2p(const std::vector<P2POp>& ops) override;
  void barrier() override;

 private:
  // Polls the requests until all complete; past the deadline the job ends.
  void wait(std::vector<MPI_Request>& requests, std::vector<MPI_Status>& statuses, const char* op);
  void wait(MPI_Request request, const char* op);
  void check(int mpi_result, const char* op) const;
  void check_peer(int peer, const char* op) const;
  int count(size_t n, const char* op) const;  // MPI counts are int

  MPI_Comm comm_ = MPI_COMM_NULL;
  std::string name_;
  int rank_ = 0, size_ = 1;
};

}  // namespace neft::parallel
