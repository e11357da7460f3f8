#include "optim/adamw.h"

#include <map>

#include "runtime/error.h"
#include "runtime/ops/adamw.h"
#include "runtime/ops/cast.h"

namespace neft::optim {

namespace {
// The f32 master rows `r` of a neuron-level parameter: those of its selected rows (or
// columns, transposed), as [r.count, C]. Read once, through the host.
Tensor selected_master(const Parameter& p, RowRange r) {
  const Tensor rows = selected_rows(p).rows(r.begin, r.count);
  return Tensor::from_floats(rows.to_floats(), rows.shape(), DType::F32, p.value.device());
}

// The f32 master copy of the value's rows `r` (a value that is not f32).
void cast_master(const Parameter& p, RowRange r, Tensor& master) {
  ops::cast(p.value.rows(r.begin, r.count), master);
}
}  // namespace

AdamW::AdamW(ParameterList params, const AdamWConfig& config, StatePartition partition)
    : config_(config), partition_(partition) {
  for (Parameter* p : params) {
    if (!p->trainable) continue;
    Slot s{p, partition_.of(*p), {}, {}, {}};
    const Device d = p->value.device();
    Shape shape = p->grad_shape();
    shape[0] = s.rows.count;
    if (p->neuron_level()) {
      s.master = selected_master(*p, s.rows);
    } else if (p->value.dtype() != DType::F32) {
      s.master = Tensor::empty(shape, DType::F32, d);
      cast_master(*p, s.rows, s.master);
    }
    s.exp_avg = Tensor::zeros(shape, DType::F32, d);
    s.exp_avg_sq = Tensor::zeros(shape, DType::F32, d);
    slots_.push_back(std::move(s));
  }
}

void AdamW::step(float lr, float grad_scale) {
  ++step_;
  for (Slot& s : slots_) {
    Parameter& p = *s.param;
    if (!p.grad.defined() || s.rows.count == 0) continue;
    ops::AdamWParams h{
        lr,    config_.beta1, config_.beta2, config_.eps, p.decay ? config_.weight_decay : 0.0f,
        step_, grad_scale};
    // The state's rows of the gradient (all of them without a partition).
    const Tensor grad = p.grad.rows(s.rows.begin, s.rows.count);
    if (p.neuron_level()) {
      // Only the selected rows move; every other entry of the weight stays bit for bit.
      ops::adamw_update_rows(s.master, grad, s.exp_avg, s.exp_avg_sq, h,
                             p.neuron_index.rows(s.rows.begin, s.rows.count), p.neuron_axis,
                             p.value);
      continue;
    }
    Tensor value = p.value.rows(s.rows.begin, s.rows.count);
    if (s.master.defined()) {
      ops::adamw_update(s.master, grad, s.exp_avg, s.exp_avg_sq, h);
      ops::cast(s.master, value);
    } else {
      ops::adamw_update(value, grad, s.exp_avg, s.exp_avg_sq, h);
    }
  }
}

size_t AdamW::state_bytes() const {
  size_t total = 0;
  for (const Slot& s : slots_)
    for (const Tensor* t : {&s.master, &s.exp_avg, &s.exp_avg_sq, (const Tensor*)&s.param->grad})
      total += t->defined() ? t->nbytes() : 0;
  return total;
}

int64_t AdamW::trained_parameters() const {
  int64_t total = 0;
  for (const Slot& s : slots_) {
    const StateShape shape = state_shape(*s.param);
    total += shape.rows * shape.row_elems;
  }
  return total;
}

std::vector<std::pair<std::string, Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Slot& s : slots_) {
    out.emplace_back(s.param->name + ".exp_avg", s.exp_avg);
    out.emplace_back(s.param->name + ".exp_avg_sq", s.exp_avg_sq);
    if (s.master.defined()) out.emplace_back(s.param->name + ".master", s.master);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, Tensor>>& tensors, int64_t steps) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : tensors) by_name[name] = &t;
  for (const auto& [name, dst] : state()) {
    auto it = by_name.find(name);
    if (it == by_name.end()) fail("optimizer state: missing tensor '", name, "'");
    if (it->second->shape() != dst.shape())
      fail("optimizer state: tensor '", name, "' is ", it->second->str(), ", expected ",
           shape_str(dst.shape()));
    if (it->second->dtype() != DType::F32)
      fail("optimizer state: tensor '", name, "' must be f32, got ", it->second->str());
    Tensor target = dst;  // shares storage with the slot
    target.copy_from(*it->second);
  }
  // Without a saved master the restored value is the master: refresh the copy from it.
  for (Slot& s : slots_)
    if (s.master.defined() && !by_name.count(s.param->name + ".master")) {
      if (s.param->neuron_level())
        s.master.copy_from(selected_master(*s.param, s.rows));
      else
        cast_master(*s.param, s.rows, s.master);
    }
  step_ = steps;
}

}  // namespace neft::optim
