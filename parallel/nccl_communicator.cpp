#include "parallel/nccl_communicator.h"

#include <cstring>
#include <utility>

#include "parallel/deadline.h"
#include "runtime/cuda/context.h"

namespace neft::parallel {

namespace {

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::F32:
      return ncclFloat32;
    case DType::BF16:
      return ncclBfloat16;
    case DType::F16:
      return ncclFloat16;
    case DType::I32:
      return ncclInt32;
    case DType::I64:
      return ncclInt64;
  }
  fail("no NCCL type for dtype ", dtype_name(d));
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::Max ? ncclMax : ncclSum; }

}  // namespace

NcclCommunicator::NcclCommunicator(std::unique_ptr<MpiCommunicator> host) : host_(std::move(host)) {
  timeout_s_ = host_->timeout_s();
  if (size() == 1) return;
  static_assert(sizeof(ncclUniqueId) % sizeof(int32_t) == 0);
  ncclUniqueId id;
  Tensor id_bytes = Tensor::empty({int64_t(sizeof id / sizeof(int32_t))}, DType::I32);
  if (rank() == 0) {
    check(ncclGetUniqueId(&id), "init");
    std::memcpy(id_bytes.raw(), &id, sizeof id);
  }
  host_->broadcast(id_bytes, 0);  // bounded by the timeout: a missing rank ends the job here
  std::memcpy(&id, id_bytes.raw(), sizeof id);
  check(ncclCommInitRank(&comm_, size(), id, rank()), "init");
  NEFT_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
}

NcclCommunicator::~NcclCommunicator() {
  // Return codes are ignored: at exit the CUDA context may already be gone.
  if (comm_) ncclCommDestroy(comm_);
  if (done_) cudaEventDestroy(done_);
}

void NcclCommunicator::set_timeout_s(double seconds) {
  Communicator::set_timeout_s(seconds);
  host_->set_timeout_s(seconds);
}

void NcclCommunicator::check(ncclResult_t result, const char* op) const {
  if (result != ncclSuccess)
    fail(describe(op), ": NCCL error: ", ncclGetErrorString(result), " (", ncclGetLastError(comm_),
         ")");
}

ncclComm_t NcclCommunicator::comm(const char* op) const {
  if (!comm_) fail(describe(op), ": the NCCL communicator was aborted after an earlier error");
  return comm_;
}

bool NcclCommunicator::on_device(const char* op,
                                 std::initializer_list<const Tensor*> tensors) const {
  int device = 0, host = 0;
  for (const Tensor* t : tensors) {
    NEFT_CHECK(t && t->defined(), describe(op), ": undefined tensor");
    (t->is_cuda() ? device : host) += 1;
  }
  if (device && host) {
    std::string list;
    for (const Tensor* t : tensors) list += (list.empty() ? "" : ", ") + t->str();
    fail(describe(op), ": tensors on both the host and the device (", list, ")");
  }
  return device > 0;
}

template <class F>
void NcclCommunicator::on_host(F&& f) {
  const uint64_t before = host_->bytes_sent();
  f(*host_);
  bytes_sent_ += host_->bytes_sent() - before;
}

void NcclCommunicator::wait(const char* op) {
  const cudaStream_t stream = cuda_detail::stream();
  NEFT_CUDA_CHECK(cudaEventRecord(done_, stream));
  const Deadline deadline(timeout_s_);
  for (;;) {
    const cudaError_t state = cudaEventQuery(done_);
    if (state == cudaSuccess) return;
    if (state != cudaErrorNotReady)
      fail(describe(op), ": CUDA error while waiting: ", cudaGetErrorString(state));
    ncclResult_t async = ncclSuccess;
    check(ncclCommGetAsyncError(comm_, &async), op);
    if (async != ncclSuccess) {
      const std::string reason =
          std::string(ncclGetErrorString(async)) + " (" + ncclGetLastError(comm_) + ")";
      ncclCommAbort(comm_);
      comm_ = nullptr;
      fail(describe(op), ": NCCL error: ", reason);
    }
    if (deadline.passed()) {
      ncclCommAbort(comm_);  // frees the device from the collective that cannot finish
      comm_ = nullptr;
      end_job_after_timeout(op);
    }
    deadline.back_off();
  }
}

void NcclCommunicator::all_reduce(Tensor& t, ReduceOp op) {
  const char* name = "all_reduce";
  if (!on_device(name, {&t})) return on_host([&](Communicator& c) { c.all_reduce(t, op); });
  if (size() == 1) return;
  check(ncclAllReduce(t.raw(), t.raw(), size_t(t.numel()), nccl_type(t.dtype()), nccl_op(op),
                      comm(name), cuda_detail::stream()),
        name);
  wait(name);
  count_ring_bytes(t.nbytes(), 2);
}

void NcclCommunicator::all_gather(const Tensor& in, Tensor& out) {
  const char* name = "all_gather";
  if (!on_device(name, {&in, &out}))
    return on_host([&](Communicator& c) { c.all_gather(in, out); });
  check_stacked(in, out, name);
  if (size() == 1) return out.copy_from(in);
  check(ncclAllGather(in.raw(), out.raw(), size_t(in.numel()), nccl_type(in.dtype()), comm(name),
                      cuda_detail::stream()),
        name);
  wait(name);
  count_ring_bytes(out.nbytes(), 1);
}

void NcclCommunicator::reduce_scatter(const Tensor& in, Tensor& out) {
  const char* name = "reduce_scatter";
  if (!on_device(name, {&in, &out}))
    return on_host([&](Communicator& c) { c.reduce_scatter(in, out); });
  check_stacked(out, in, name);
  if (size() == 1) return out.copy_from(in);
  check(ncclReduceScatter(in.raw(), out.raw(), size_t(out.numel()), nccl_type(in.dtype()), ncclSum,
                          comm(name), cuda_detail::stream()),
        name);
  wait(name);
  count_ring_bytes(in.nbytes(), 1);
}

void NcclCommunicator::broadcast(Tensor& t, int root) {
  const char* name = "broadcast";
  if (!on_device(name, {&t})) return on_host([&](Communicator& c) { c.broadcast(t, root); });
  if (root < 0 || root >= size())
    fail(describe(name), ": root ", root, " is not a rank of the group");
  if (size() == 1) return;
  check(ncclBroadcast(t.raw(), t.raw(), size_t(t.numel()), nccl_type(t.dtype()), root, comm(name),
                      cuda_detail::stream()),
        name);
  wait(name);
  count_ring_bytes(t.nbytes(), 1);
}

void NcclCommunicator::send(const Tensor& t, int peer) {
  Tensor& sent = const_cast<Tensor&>(t);  // a Send never writes its tensor
  batch_p2p({{P2POp::Send, &sent, peer}});
}

void NcclCommunicator::recv(Tensor& t, int peer) { batch_p2p({{P2POp::Recv, &t, peer}}); }

void NcclCommunicator::batch_p2p(const std::vector<P2POp>& ops) {
  const char* name = ops.size() == 1 ? (ops[0].kind == P2POp::Send ? "send" : "recv") : "batch_p2p";
  if (ops.empty()) return;
  int device = 0;
  for (const P2POp& op : ops) device += on_device(name, {op.tensor}) ? 1 : 0;
  if (device == 0) return on_host([&](Communicator& c) { c.batch_p2p(ops); });
  if (device != int(ops.size())) fail(describe(name), ": tensors on both the host and the device");
  for (const P2POp& op : ops)
    if (op.peer < 0 || op.peer >= size() || op.peer == rank())
      fail(describe(name), ": peer ", op.peer, " is not another rank of the group");
  const cudaStream_t stream = cuda_detail::stream();
  ncclComm_t c = comm(name);
  check(ncclGroupStart(), name);
  for (const P2POp& op : ops) {
    const Tensor& t = *op.tensor;
    const ncclResult_t result =
        op.kind == P2POp::Send
            ? ncclSend(t.raw(), size_t(t.numel()), nccl_type(t.dtype()), op.peer, c, stream)
            : ncclRecv(t.raw(), size_t(t.numel()), nccl_type(t.dtype()), op.peer, c, stream);
    if (result != ncclSuccess) {
      ncclGroupEnd();  // close the group before reporting
      check(result, name);
    }
  }
  check(ncclGroupEnd(), name);
  wait(name);
  for (const P2POp& op : ops)
    if (op.kind == P2POp::Send) bytes_sent_ += op.tensor->nbytes();
}

void NcclCommunicator::barrier() {
  // Ranks meet on the host; device work of this rank is not waited for (stream order
  // already places it before anything queued after the barrier).
  on_host([](Communicator& c) { c.barrier(); });
}

}  // namespace neft::parallel
