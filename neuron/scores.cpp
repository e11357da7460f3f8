// Attribution rules, weight snapshots and what the scorers share (neuron/scores_detail.h).
#include "neuron/scores.h"

#include <cmath>

#include "neuron/scores_detail.h"
#include "runtime/error.h"

namespace neft::neuron {

namespace {
constexpr AttributionRule kRules[] = {AttributionRule::TokenAbs, AttributionRule::AbsTotal};
}  // namespace

const char* attribution_rule_name(AttributionRule r) {
  return r == AttributionRule::TokenAbs ? "token-abs" : "abs-total";
}

AttributionRule attribution_rule_from_name(const std::string& name) {
  for (AttributionRule r : kRules)
    if (name == attribution_rule_name(r)) return r;
  fail("attribution rule: unknown rule '", name, "' (expected token-abs or abs-total)");
}

WeightSnapshot snapshot_weights(model::LlamaModel& model, const NeuronSpace& space) {
  detail::check_layout(space, model, "weight snapshot");
  WeightSnapshot out;
  detail::for_each_layer_kind(space, model, [&](int64_t layer, NeuronKind k, int64_t) {
    for (const NeuronMatrix& m : space.matrices(k)) {
      const std::string name = parameter_name(layer, m);
      out[name] = detail::host_f32(model.parameter(name).value);
    }
  });
  return out;
}

void restore_weights(model::LlamaModel& model, const WeightSnapshot& snapshot) {
  for (const auto& [name, saved] : snapshot) {
    Parameter& p = model.parameter(name);
    if (saved.shape() != p.value.shape())
      fail("weight snapshot: '", name, "' is ", saved.str(), " but the model's is ", p.value.str());
    if (p.value.dtype() == DType::F32)
      p.value.copy_from(saved);
    else  // bf16 -> f32 -> bf16 is exact
      p.value.copy_from(Tensor::from_floats(saved.to_floats(), saved.shape(), p.value.dtype()));
  }
}

namespace detail {

void check_layout(const NeuronSpace& space, const model::LlamaModel& model, const char* scorer) {
  const model::ModelOptions& o = model.options();
  if (space.tp() != o.tp.size || space.pp() != o.pp_stages)
    fail(scorer, ": the neuron space is for tp ", space.tp(), " pp ", space.pp(),
         " but the model runs at tp ", o.tp.size, " pp ", o.pp_stages);
}

const Tensor& find_matrix(const WeightSnapshot& matrices, const std::string& name,
                          const char* what) {
  const auto it = matrices.find(name);
  if (it == matrices.end()) fail(what, ": no '", name, "' (taken at another layout or kinds?)");
  return it->second;
}

Tensor host_f32(const Tensor& t) {
  if (t.device() == Device::CPU && t.dtype() == DType::F32) return t.clone();
  return Tensor::from_floats(t.to_floats(), t.shape());
}

VectorSums vector_sums(const Tensor& a, const Tensor& b, int axis) {
  NEFT_CHECK(a.dim() == 2 && a.shape() == b.shape(), "vector sums: ", a.str(), " and ", b.str());
  const int64_t R = a.size(0), C = a.size(1), units = axis == 0 ? R : C;
  VectorSums s{std::vector<double>(size_t(units)), std::vector<double>(size_t(units)),
               std::vector<double>(size_t(units))};
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  // Row-major either way: a row unit is one contiguous run, a column unit takes one element
  // of every row, so both walk the matrix once in memory order.
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const double x = pa[r * C + c], y = pb[r * C + c];
      const size_t u = size_t(axis == 0 ? r : c);
      s.ab[u] += x * y;
      s.aa[u] += x * x;
      s.bb[u] += y * y;
    }
  return s;
}

std::vector<float> neuron_norms(const NeuronSpace& space, const model::LlamaModel& model,
                                const WeightSnapshot& matrices, const char* what) {
  std::vector<float> values;
  for_each_layer_kind(space, model, [&](int64_t layer, NeuronKind k, int64_t units) {
    std::vector<double> squares(size_t(units), 0.0);
    for (const NeuronMatrix& m : space.matrices(k)) {
      const Tensor& w = find_matrix(matrices, parameter_name(layer, m), what);
      const VectorSums s = vector_sums(w, w, m.axis);
      NEFT_CHECK(int64_t(s.aa.size()) == units, what, ": ", parameter_name(layer, m), " has ",
                 s.aa.size(), " units, expected ", units);
      for (size_t i = 0; i < squares.size(); ++i) squares[i] += s.aa[i];
    }
    for (double sq : squares) values.push_back(float(std::sqrt(sq)));
  });
  return values;
}

LocalScores local_scores(const NeuronSpace& space, const model::LlamaModel& model,
                         std::vector<float> values) {
  const model::ModelOptions& o = model.options();
  LocalScores s{space.owned(o.tp.rank, o.pp_stage), std::move(values)};
  NEFT_CHECK(s.ids.size() == s.values.size(), "scores: ", s.values.size(), " values for ",
             s.ids.size(), " neurons");
  return s;
}

}  // namespace detail

}  // namespace neft::neuron
