#include "optim/distributed_optimizer.h"

#include <vector>

#include "runtime/ops/gather_scatter.h"

namespace neft::optim {

namespace {

std::vector<Parameter*> with_gradients(const ParameterList& params) {
  std::vector<Parameter*> out;
  for (Parameter* p : params)
    if (p->grad.defined()) out.push_back(p);
  return out;
}

std::vector<StateBucket> buckets_of(const std::vector<Parameter*>& ps, int size,
                                    size_t bucket_bytes) {
  std::vector<StateShape> shapes;
  for (const Parameter* p : ps) shapes.push_back(state_shape(*p));
  return state_buckets(shapes, size, bucket_bytes);
}

// The elements [offset, offset + n) of a flat buffer, as `shape`.
Tensor piece(const Tensor& flat, int64_t offset, const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return flat.rows(offset, n).view(shape);
}

// Rows `r` of a parameter's value, as the optimizer wrote them, into `dst` (n * row elements)
// or back: whole rows of a dense value; the selected neurons' rows (axis 0) or columns (axis
// 1, as [C, n]) of a neuron-level one.
void copy_value_rows(Parameter& p, RowRange r, const Tensor& flat, int64_t offset, bool to_flat) {
  const StateShape s = state_shape(p);
  if (!p.neuron_level()) {
    Tensor rows = p.value.rows(r.begin, r.count);
    Tensor part = piece(flat, offset, {r.count * s.row_elems});
    if (to_flat)
      part.copy_from(rows);
    else
      rows.copy_from(part);
    return;
  }
  const Tensor idx = p.neuron_index.rows(r.begin, r.count);
  if (p.neuron_axis == 0) {
    Tensor part = piece(flat, offset, {r.count, s.row_elems});
    if (to_flat)
      ops::gather_rows(p.value, idx, part);
    else
      ops::scatter_rows(part, idx, p.value);
  } else {
    Tensor part = piece(flat, offset, {s.row_elems, r.count});
    if (to_flat)
      ops::gather_cols(p.value, idx, part);
    else
      ops::scatter_cols(part, idx, p.value);
  }
}

// Calls fn(p, rows, offset) for each parameter of bucket b of which rank r of S owns rows:
// `offset` is where they go in r's block, after its rows of the parameters before.
template <class Fn>
void for_each_share(const std::vector<Parameter*>& ps, const StateBucket& b, int S, int r, Fn fn) {
  int64_t offset = 0;
  for (size_t i = b.first; i < b.end; ++i) {
    const StateShape s = state_shape(*ps[i]);
    const RowRange rows = owned_rows(s.rows, S, r);
    if (rows.count == 0) continue;
    fn(*ps[i], rows, offset);
    offset += rows.count * s.row_elems;
  }
}

}  // namespace

void reduce_scatter_gradients(const ParameterList& params, parallel::Communicator& dp,
                              size_t bucket_bytes) {
  const std::vector<Parameter*> ps = with_gradients(params);
  const int S = dp.size(), me = dp.rank();
  for (const StateBucket& b : buckets_of(ps, S, bucket_bytes)) {
    const Device d = ps[b.first]->grad.device();
    // Zeros, so that the padding sums to nothing rather than to whatever memory held.
    Tensor in = Tensor::zeros({S * b.block}, DType::F32, d);
    for (int r = 0; r < S; ++r)
      for_each_share(ps, b, S, r, [&](Parameter& p, RowRange rows, int64_t offset) {
        const Tensor g = p.grad.rows(rows.begin, rows.count);
        in.rows(r * b.block + offset, g.numel()).copy_from(g);
      });
    Tensor out = Tensor::empty({b.block}, DType::F32, d);
    dp.reduce_scatter(in, out);
    for_each_share(ps, b, S, me, [&](Parameter& p, RowRange rows, int64_t offset) {
      Tensor g = p.grad.rows(rows.begin, rows.count);
      g.copy_from(out.rows(offset, g.numel()));
    });
  }
}

void all_gather_parameters(const ParameterList& params, parallel::Communicator& dp,
                           size_t bucket_bytes) {
  const std::vector<Parameter*> ps = with_gradients(params);
  const int S = dp.size(), me = dp.rank();
  for (const StateBucket& b : buckets_of(ps, S, bucket_bytes)) {
    const Tensor& v0 = ps[b.first]->value;
    for (size_t i = b.first; i < b.end; ++i)
      NEFT_CHECK(ps[i]->value.dtype() == v0.dtype(), "distributed optimizer: ", ps[i]->name, " is ",
                 ps[i]->value.str(), " beside ", v0.str());
    Tensor mine = Tensor::zeros({b.block}, v0.dtype(), v0.device());
    for_each_share(ps, b, S, me, [&](Parameter& p, RowRange rows, int64_t offset) {
      copy_value_rows(p, rows, mine, offset, /*to_flat=*/true);
    });
    Tensor all = Tensor::empty({S * b.block}, v0.dtype(), v0.device());
    dp.all_gather(mine, all);
    for (int r = 0; r < S; ++r)
      if (r != me)
        for_each_share(ps, b, S, r, [&](Parameter& p, RowRange rows, int64_t offset) {
          copy_value_rows(p, rows, all, r * b.block + offset, /*to_flat=*/false);
        });
  }
}

}  // namespace neft::optim
