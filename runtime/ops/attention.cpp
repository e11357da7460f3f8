#include "runtime/ops/attention.h"

#include <utility>

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {

// Checks q, k, v and returns the kv shape [B, T, Hkv, D] and the lse shape [B, Hq, T].
void check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, Shape* kv_shape,
               Shape* lse_shape) {
  check_defined(op, "q", q);
  check_defined(op, "k", k);
  if (q.dim() != 4) fail(op, ": q must be [B, T, Hq, D], got ", q.str());
  if (k.dim() != 4) fail(op, ": k must be [B, T, Hkv, D], got ", k.str());
  const int64_t B = q.size(0), T = q.size(1), Hq = q.size(2), D = q.size(3), Hkv = k.size(2);
  if (Hq < 1 || D < 1) fail(op, ": q ", q.str(), " has no heads or a zero head dim");
  *kv_shape = {B, T, Hkv, D};
  check_shape(op, "k", k, *kv_shape);
  check_shape(op, "v", v, *kv_shape);
  if (Hkv < 1 || Hq % Hkv != 0)
    fail(op, ": query heads (", Hq, ") must be a multiple of kv heads (", Hkv, ")");
  *lse_shape = {B, Hq, T};
  check_float_for_device(op, "q", q);
  check_dtype(op, "k", k, {q.dtype()});
  check_dtype(op, "v", v, {q.dtype()});
}

// doc_start, when given: [B, T] i32 on the op's device; on the CPU, also its contract.
void check_doc_start(const char* op, const Tensor& q, const Tensor& doc_start) {
  if (!doc_start.defined()) return;
  const int64_t B = q.size(0), T = q.size(1);
  check_shape(op, "doc_start", doc_start, {B, T});
  check_dtype(op, "doc_start", doc_start, {DType::I32});
  if (doc_start.device() != Device::CPU) return;
  const int32_t* s = doc_start.data<int32_t>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t lo = t == 0 ? 0 : s[b * T + t - 1], x = s[b * T + t];
      if (x < lo || x > t)
        fail(op, ": doc_start[", b, ", ", t, "] = ", x, " must lie in [", lo, ", ", t,
             "] (documents are contiguous runs of a row)");
    }
}

}  // namespace

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse,
                       const Tensor& doc_start) {
  const char* op = "attention_forward";
  const Device d = common_device(op, {&q, &k, &v, &out, &lse, &doc_start});
  Shape kv_shape, lse_shape;
  check_qkv(op, q, k, v, &kv_shape, &lse_shape);
  check_shape(op, "out", out, q.shape());
  check_dtype(op, "out", out, {q.dtype()});
  check_shape(op, "lse", lse, lse_shape);
  check_dtype(op, "lse", lse, {DType::F32});
  check_doc_start(op, q, doc_start);
  NEFT_DISPATCH(d, attention_forward, q, k, v, out, lse, doc_start);
}

void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, Tensor& dq, Tensor& dk, Tensor& dv,
                        const Tensor& doc_start) {
  const char* op = "attention_backward";
  const Device d = common_device(op, {&dout, &q, &k, &v, &out, &lse, &dq, &dk, &dv, &doc_start});
  Shape kv_shape, lse_shape;
  check_qkv(op, q, k, v, &kv_shape, &lse_shape);
  for (auto [name, t] :
       {std::pair<const char*, const Tensor*>{"dout", &dout}, {"out", &out}, {"dq", &dq}}) {
    check_shape(op, name, *t, q.shape());
    check_dtype(op, name, *t, {q.dtype()});
  }
  for (auto [name, t] : {std::pair<const char*, const Tensor*>{"dk", &dk}, {"dv", &dv}}) {
    check_shape(op, name, *t, kv_shape);
    check_dtype(op, name, *t, {q.dtype()});
  }
  check_shape(op, "lse", lse, lse_shape);
  check_dtype(op, "lse", lse, {DType::F32});
  check_doc_start(op, q, doc_start);
  NEFT_DISPATCH(d, attention_backward, dout, q, k, v, out, lse, dq, dk, dv, doc_start);
}

}  // namespace neft::ops
