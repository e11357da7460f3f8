#include "parallel/mpi_communicator.h"

#include <climits>
#include <utility>

#include "parallel/deadline.h"
#include "parallel/environment.h"
#include "runtime/ops/cast.h"

namespace neft::parallel {

namespace {

constexpr int kTag = 0;  // one stream of messages per group, matched in order

// The host side of a tensor: the tensor itself, or a host copy of a device tensor that
// commit() writes back.
class HostSide {
 public:
  HostSide(const Tensor& t, bool read)
      : tensor_(t),
        host_(!t.is_cuda() ? t
              : read       ? t.to(Device::CPU)
                           : Tensor::empty(t.shape(), t.dtype())) {}
  Tensor& host() { return host_; }
  void commit() {
    if (tensor_.is_cuda()) tensor_.copy_from(host_);
  }

 private:
  Tensor tensor_, host_;
};

bool is_narrow_float(DType d) { return d == DType::BF16 || d == DType::F16; }

// What MPI reduces: f32 for every float dtype (bf16 and f16 are widened first), else the
// integer type itself.
MPI_Datatype reduce_type(DType d) {
  switch (d) {
    case DType::I32:
      return MPI_INT32_T;
    case DType::I64:
      return MPI_INT64_T;
    default:
      return MPI_FLOAT;
  }
}

// An f32 working copy of a bf16/f16 host tensor (with its values when `read`); the tensor
// itself for the other dtypes.
Tensor widened(const Tensor& host, bool read) {
  if (!is_narrow_float(host.dtype())) return host;
  Tensor wide = Tensor::empty(host.shape(), DType::F32);
  if (read) ops::cast(host, wide);
  return wide;
}

void narrow_into(const Tensor& wide, Tensor& host) {
  if (is_narrow_float(host.dtype())) ops::cast(wide, host);
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::Max ? MPI_MAX : MPI_SUM; }

// Bytes as the widest unsigned words that divide them, so that counts (int) reach 16 GiB.
struct Units {
  MPI_Datatype type;
  size_t count;
};
Units byte_units(size_t bytes) {
  const std::pair<size_t, MPI_Datatype> widths[] = {
      {8, MPI_UINT64_T}, {4, MPI_UINT32_T}, {2, MPI_UINT16_T}, {1, MPI_BYTE}};
  for (const auto& [width, type] : widths)
    if (bytes % width == 0) return {type, bytes / width};
  return {MPI_BYTE, bytes};
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::string name, double timeout_s)
    : comm_(comm), name_(std::move(name)) {
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  set_timeout_s(timeout_s);
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL && mpi_running()) MPI_Comm_free(&comm_);
}

void MpiCommunicator::check(int mpi_result, const char* op) const {
  if (mpi_result == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(mpi_result, text, &length);
  fail(describe(op), ": MPI error: ", std::string(text, size_t(length)));
}

void MpiCommunicator::check_peer(int peer, const char* op) const {
  if (peer < 0 || peer >= size_) fail(describe(op), ": peer ", peer, " is not a rank of the group");
}

int MpiCommunicator::count(size_t n, const char* op) const {
  if (n > size_t(INT_MAX))
    fail(describe(op), ": ", n, " elements exceed MPI's int count; split the tensor");
  return int(n);
}

void MpiCommunicator::wait(std::vector<MPI_Request>& requests, std::vector<MPI_Status>& statuses,
                           const char* op) {
  const Deadline deadline(timeout_s_);
  statuses.resize(requests.size());
  for (;;) {
    int done = 0;
    const int result = MPI_Testall(int(requests.size()), requests.data(), &done, statuses.data());
    if (result == MPI_ERR_IN_STATUS) {
      for (const MPI_Status& s : statuses)
        if (s.MPI_ERROR != MPI_SUCCESS && s.MPI_ERROR != MPI_ERR_PENDING) check(s.MPI_ERROR, op);
    }
    check(result, op);
    if (done) return;
    if (deadline.passed()) end_job_after_timeout(op);
    deadline.back_off();
  }
}

void MpiCommunicator::wait(MPI_Request request, const char* op) {
  std::vector<MPI_Request> requests{request};
  std::vector<MPI_Status> statuses;
  wait(requests, statuses, op);
}

void MpiCommunicator::all_reduce(Tensor& t, ReduceOp op) {
  const char* name = "all_reduce";
  NEFT_CHECK(t.defined(), describe(name), ": undefined tensor");
  if (size_ == 1) return;
  HostSide side(t, true);
  Tensor wide = widened(side.host(), true);
  MPI_Request request;
  check(MPI_Iallreduce(MPI_IN_PLACE, wide.raw(), count(size_t(wide.numel()), name),
                       reduce_type(t.dtype()), mpi_op(op), comm_, &request),
        name);
  wait(request, name);
  narrow_into(wide, side.host());
  side.commit();
  count_ring_bytes(t.nbytes(), 2);
}

void MpiCommunicator::all_gather(const Tensor& in, Tensor& out) {
  const char* name = "all_gather";
  check_stacked(in, out, name);
  if (size_ == 1) return out.copy_from(in);
  HostSide in_side(in, true), out_side(out, false);
  const Units units = byte_units(in.nbytes());
  const int n = count(units.count, name);
  MPI_Request request;
  check(MPI_Iallgather(in_side.host().raw(), n, units.type, out_side.host().raw(), n, units.type,
                       comm_, &request),
        name);
  wait(request, name);
  out_side.commit();
  count_ring_bytes(out.nbytes(), 1);
}

void MpiCommunicator::reduce_scatter(const Tensor& in, Tensor& out) {
  const char* name = "reduce_scatter";
  check_stacked(out, in, name);
  if (size_ == 1) return out.copy_from(in);
  HostSide in_side(in, true), out_side(out, false);
  Tensor wide_in = widened(in_side.host(), true), wide_out = widened(out_side.host(), false);
  MPI_Request request;
  check(MPI_Ireduce_scatter_block(wide_in.raw(), wide_out.raw(), count(size_t(out.numel()), name),
                                  reduce_type(in.dtype()), MPI_SUM, comm_, &request),
        name);
  wait(request, name);
  narrow_into(wide_out, out_side.host());
  out_side.commit();
  count_ring_bytes(in.nbytes(), 1);
}

void MpiCommunicator::broadcast(Tensor& t, int root) {
  const char* name = "broadcast";
  NEFT_CHECK(t.defined(), describe(name), ": undefined tensor");
  if (root < 0 || root >= size_)
    fail(describe(name), ": root ", root, " is not a rank of the group");
  if (size_ == 1) return;
  HostSide side(t, rank_ == root);
  const Units units = byte_units(t.nbytes());
  MPI_Request request;
  check(MPI_Ibcast(side.host().raw(), count(units.count, name), units.type, root, comm_, &request),
        name);
  wait(request, name);
  if (rank_ != root) side.commit();
  count_ring_bytes(t.nbytes(), 1);
}

void MpiCommunicator::send(const Tensor& t, int peer) {
  Tensor& sent = const_cast<Tensor&>(t);  // a Send never writes its tensor
  batch_p2p({{P2POp::Send, &sent, peer}});
}

void MpiCommunicator::recv(Tensor& t, int peer) { batch_p2p({{P2POp::Recv, &t, peer}}); }

void MpiCommunicator::batch_p2p(const std::vector<P2POp>& ops) {
  const char* name = ops.size() == 1 ? (ops[0].kind == P2POp::Send ? "send" : "recv") : "batch_p2p";
  std::vector<HostSide> sides;
  std::vector<Units> units;
  std::vector<MPI_Request> requests(ops.size());
  sides.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const P2POp& op = ops[i];
    NEFT_CHECK(op.tensor && op.tensor->defined(), describe(name), ": undefined tensor");
    check_peer(op.peer, name);
    sides.emplace_back(*op.tensor, op.kind == P2POp::Send);
    units.push_back(byte_units(op.tensor->nbytes()));
    void* data = sides.back().host().raw();
    const int n = count(units.back().count, name);
    check(op.kind == P2POp::Send
              ? MPI_Isend(data, n, units.back().type, op.peer, kTag, comm_, &requests[i])
              : MPI_Irecv(data, n, units.back().type, op.peer, kTag, comm_, &requests[i]),
          name);
  }
  std::vector<MPI_Status> statuses;
  wait(requests, statuses, name);
  for (size_t i = 0; i < ops.size(); ++i) {
    const P2POp& op = ops[i];
    if (op.kind == P2POp::Send) {
      bytes_sent_ += op.tensor->nbytes();
      continue;
    }
    int received = 0;
    MPI_Get_count(&statuses[i], units[i].type, &received);
    if (received == MPI_UNDEFINED || size_t(received) != units[i].count)
      fail(describe(name), ": expected ", op.tensor->str(), " (", op.tensor->nbytes(),
           " bytes) from rank ", op.peer, ", got a message of another size");
    sides[i].commit();
  }
}

void MpiCommunicator::barrier() {
  const char* name = "barrier";
  if (size_ == 1) return;
  MPI_Request request;
  check(MPI_Ibarrier(comm_, &request), name);
  wait(request, name);
}

}  // namespace neft::parallel
