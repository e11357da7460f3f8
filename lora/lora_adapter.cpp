#include "lora/lora_adapter.h"

#include "runtime/error.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gemm.h"

namespace neft::lora {

std::string lora_name(const std::string& base_name, char which) {
  const std::string suffix = ".weight";
  NEFT_CHECK(base_name.ends_with(suffix), "lora: base '", base_name, "' is not a weight");
  return base_name.substr(0, base_name.size() - suffix.size()) + ".lora_" + which + ".weight";
}

namespace {
// A [rows, cols] slice of a whole [full_rows, full_cols] tensor: sharded along dim
// (0 or 1) at offset, or whole (dim -1).
Parameter make(const std::string& name, const Shape& full, int dim, int64_t local, int64_t offset,
               const Parameter& like) {
  Shape shape = full;
  if (dim >= 0) shape[size_t(dim)] = local;
  Parameter p{name, Tensor::empty(shape, like.value.dtype(), like.value.device()), Tensor(),
              /*decay=*/true};
  p.shard_dim = dim;
  p.shard_offset = dim >= 0 ? offset : 0;
  p.full_shape = full;
  return p;
}
}  // namespace

LoraAdapter::LoraAdapter(const Parameter& base, BaseLayer layer, const model::TensorParallel& tp,
                         int64_t rank, double alpha)
    : layer_(layer), tp_(&tp), scaling_(float(alpha / double(rank))) {
  NEFT_CHECK(base.full_shape.size() == 2, "lora: base '", base.name, "' is not a matrix");
  const int64_t out = base.full_shape[0], in = base.full_shape[1];
  const bool sharded = base.shard_dim >= 0;
  if (layer == BaseLayer::Column) {
    a_ = make(lora_name(base.name, 'A'), {rank, in}, -1, 0, 0, base);
    b_ = make(lora_name(base.name, 'B'), {out, rank}, sharded ? 0 : -1, base.value.size(0),
              base.shard_offset, base);
  } else {
    a_ = make(lora_name(base.name, 'A'), {rank, in}, sharded ? 1 : -1, base.value.size(1),
              base.shard_offset, base);
    b_ = make(lora_name(base.name, 'B'), {out, rank}, -1, 0, 0, base);
  }
}

LoraAdapter::Kept& LoraAdapter::kept() {
  const size_t slot = slot_ ? *slot_ : 0;
  if (kept_.size() <= slot) kept_.resize(slot + 1);
  return kept_[slot];
}

Tensor LoraAdapter::dropped(const Tensor& t, const ops::DropoutMask& mask) {
  Tensor out = dropout_.buffer->get(t.size(0), t.size(1), t.dtype(), t.device());
  ops::dropout(t, mask, out);
  return out;
}

void LoraAdapter::forward(const Tensor& x, Tensor& y) {
  const int64_t N = x.size(0), r = a_.value.size(0);
  Kept& k = kept();
  if (!k.u.defined() || k.u.size(0) != N) k.u = Tensor::empty({N, r}, x.dtype(), x.device());
  // A training forward draws this micro-batch's mask over the whole input's columns (a row
  // base holds A's columns from shard_offset on, and the same of x).
  k.mask.reset();
  if (dropout_.p > 0 && dropout_.key && dropout_.key->has_value())
    k.mask = dropout_mask(dropout_.p, dropout_.seed, **dropout_.key, dropout_.layer,
                          dropout_.target, a_.full_shape[1], a_.shard_offset);
  // U = x Aᵀ (a row base: this rank's part), of dropout(x) in training.
  ops::gemm(k.mask ? dropped(x, *k.mask) : x, false, a_.value, true, k.u);
  if (layer_ == BaseLayer::Row) tp_->reduce_from_tp_forward(k.u);
  // y += s U Bᵀ; under sequence parallelism a row base's y is this rank's tokens, the
  // matching rows of U (backward's dy is whole again, and so is U).
  const int64_t n = y.size(0);
  NEFT_CHECK(n == N || (layer_ == BaseLayer::Row && tp_->split_tokens && n * tp_->size == N),
             "lora: output ", y.str(), " for input ", x.str());
  ops::gemm(n == N ? k.u : k.u.rows(tp_->rank * n, n), false, b_.value, true, y, scaling_, 1.0f);
}

void LoraAdapter::backward(const Tensor& dy, const Tensor& x, Tensor* dx) {
  const Kept& k = kept();
  NEFT_CHECK(k.u.defined() && k.u.size(0) == x.size(0), "lora: backward of ", x.str(),
             " without its forward");
  if (!du_.defined() || du_.size(0) != k.u.size(0))
    du_ = Tensor::empty(k.u.shape(), k.u.dtype(), k.u.device());
  // dB += s dyᵀ U; dU = s dy B.
  if (b_.grad.defined()) ops::gemm(dy, true, k.u, false, b_.grad, scaling_, 1.0f);
  ops::gemm(dy, false, b_.value, false, du_, scaling_, 0.0f);
  // dx += dU A: for a column base each rank adds its part of dU's, which the layer then sums
  // with the base's input gradient; for a row base, its columns of A. With dropout the mask
  // passes it back: dx += dropout(dU A).
  if (dx && k.mask) {
    Tensor dxd = dropout_.buffer->get(x.size(0), x.size(1), x.dtype(), x.device());
    ops::gemm(du_, false, a_.value, false, dxd);
    ops::dropout(dxd, *k.mask, dxd);
    ops::axpy(1.0f, dxd, *dx);
  } else if (dx) {
    ops::gemm(du_, false, a_.value, false, *dx, 1.0f, 1.0f);
  }
  if (!a_.grad.defined()) return;
  if (layer_ == BaseLayer::Column) tp_->copy_to_tp_backward(du_);  // the whole dU for A
  // dA += dUᵀ x (of dropout(x) when the forward dropped).
  ops::gemm(du_, true, k.mask ? dropped(x, *k.mask) : x, false, a_.grad, 1.0f, 1.0f);
}

}  // namespace neft::lora
