// How far apart two correct AdamW runs can end, element by element, when their gradients
// differ by rounding alone: the tolerance of every test that compares weights after AdamW
// steps (ours against transformers, a parallel layout against the single-rank run).
//
// Why not one tolerance per tensor: Adam's update u = m̂ / (√v̂ + ε) divides by the gradient's
// own size, so an element whose gradient is tiny (a sum that mostly cancels) moves by about
// lr whatever that gradient's rounding. A GEMM kernel that sums in another order (OpenBLAS's
// Haswell kernel against its SkylakeX one, a tensor-parallel split) is then off there by a
// share of lr that no fixed share bounds, while a well-conditioned element agrees to 1e-6 lr.
//
// The bound. Both runs' gradients (after the clipping factor) agree within
//   δg_t = τ · max_i |g_t,i|      for every element of a tensor, at every step t,
// where τ is the gradient tolerance the golden test holds the model to: rounding in a sum of
// products scales with the terms summed, i.e. with the tensor's scale, not with the element's
// result. Then the moments agree within dm_t = β1 dm_t-1 + (1-β1) δg_t and
// dv_t = β2 dv_t-1 + (1-β2)(2|g_t| δg_t + δg_t²), exactly (no linearisation). The update of
// the other run lies in the box m̂' ∈ m̂ ± dm̂, v̂' ∈ v̂ ± dv̂ (v̂' ≥ 0); m'/(√v'+ε) is linear in
// m' and monotone in v', so its largest distance from u is at a corner of the box: δu_t. No
// Adam update exceeds U_t = sqrt(Σ_s a_s² / b_s) in size (Cauchy-Schwarz over the
// bias-corrected weights a_s of m̂ and b_s of v̂), so δu_t is capped at U_t + |u_t|. Decoupled
// decay contracts a difference, so the weights agree within
//   B_t = (1 - lr_t·wd) B_t-1 + lr_t δu_t,
// plus the weight's own fp32 rounding, half an ulp a step (kWeightRounding·|w|).
//
// That is the direct effect. The runs' weights then differ, which changes later gradients by
// about the Hessian times the difference, and at lr 1e-2 a few steps amplify that many times
// over (measured: with τ at 1e-4 the direct bound alone was reached to 60%, while the
// gradients of two kernels differ by 7e-7 of their scale). So the trajectory's own
// sensitivity is measured too: shadow runs of the reference, each with every gradient moved
// by ±τ·max|g| (random signs) before every update, and the element-wise spread S of their
// final weights around the unperturbed run's. τ = 1e-4 is over 100× what another summation
// order does to a gradient, so a correct layout or implementation lands well inside
//   |w - w_ref| ≤ B + S + the weight's own fp32 rounding (half an ulp a step).
// A real bug (a gradient of the wrong sign, a row not updated or updated twice) moves a
// well-conditioned element by about lr per step, far outside it.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "optim/adamw.h"
#include "optim/clip.h"
#include "runtime/parameter.h"
#include "train/train_step.h"

namespace neft::testing {

// The gradients' agreement, relative to each tensor's largest entry: what
// Golden.EveryGradientMatchesTransformers holds every gradient to.
constexpr double kGradientTolerance = 1e-4;
// fp32 rounding of the weight itself: half an ulp (2^-24 relative) per step, 16 steps.
constexpr double kWeightRounding = 16 * 0x1p-24;

class AdamBound {
 public:
  explicit AdamBound(const optim::AdamWConfig& c, double grad_tolerance = kGradientTolerance)
      : c_(c), tau_(grad_tolerance) {}

  // After each optimizer step: the gradients it used were `params`' grads times `grad_scale`
  // (the clipping factor), at learning rate `lr`.
  void observe(const ParameterList& params, double lr, double grad_scale) {
    ++t_;
    const double b1 = c_.beta1, b2 = c_.beta2, eps = c_.eps;
    const double bc1 = 1 - std::pow(b1, double(t_)), bc2 = 1 - std::pow(b2, double(t_));
    double cap2 = 0;  // U_t²
    for (int64_t s = 1; s <= t_; ++s) {
      const double a = (1 - b1) * std::pow(b1, double(t_ - s)) / bc1;
      const double b = (1 - b2) * std::pow(b2, double(t_ - s)) / bc2;
      cap2 += a * a / b;
    }
    const double cap = std::sqrt(cap2);
    for (Parameter* p : params) {
      if (!p->trainable || !p->grad.defined()) continue;
      const std::vector<float> grad = p->grad.to_floats();
      State& st = state_[p->name];
      if (st.m.empty()) st.m = st.v = st.dm = st.dv = st.bound = std::vector<double>(grad.size());
      double g_max = 0;
      for (float g : grad) g_max = std::max(g_max, std::abs(grad_scale * g));
      const double dg = tau_ * g_max, decay = p->decay ? c_.weight_decay : 0.0;
      for (size_t i = 0; i < grad.size(); ++i) {
        const double g = grad_scale * grad[i];
        st.m[i] = b1 * st.m[i] + (1 - b1) * g;
        st.v[i] = b2 * st.v[i] + (1 - b2) * g * g;
        st.dm[i] = b1 * st.dm[i] + (1 - b1) * dg;
        st.dv[i] = b2 * st.dv[i] + (1 - b2) * (2 * std::abs(g) * dg + dg * dg);
        const double m = st.m[i] / bc1, v = st.v[i] / bc2;
        const double dm = st.dm[i] / bc1, dv = st.dv[i] / bc2;
        const double u = m / (std::sqrt(v) + eps);
        double du = 0;
        for (double mc : {m - dm, m + dm})
          for (double vc : {std::max(0.0, v - dv), v + dv})
            du = std::max(du, std::abs(mc / (std::sqrt(vc) + eps) - u));
        du = std::min(du, cap + std::abs(u));
        st.bound[i] = (1 - lr * decay) * st.bound[i] + lr * du;
      }
    }
  }

  // A shadow run's final value of parameter `name` against the unperturbed run's: widens S.
  void add_shadow(const std::string& name, const std::vector<float>& nominal,
                  const std::vector<float>& shadow) {
    std::vector<double>& s = spread_[name];
    s.resize(nominal.size());
    for (size_t i = 0; i < nominal.size() && i < shadow.size(); ++i)
      s[i] = std::max(s[i], std::abs(double(shadow[i]) - double(nominal[i])));
  }
  void add_shadow(const ParameterList& nominal, const ParameterList& shadow) {
    for (size_t i = 0; i < nominal.size() && i < shadow.size(); ++i)
      add_shadow(nominal[i]->name, nominal[i]->value.to_floats(), shadow[i]->value.to_floats());
  }

  // A shadow run's optimizer state (AdamW::state()) against the unperturbed run's: the
  // moments' (and master rows') S.
  void add_shadow_state(const std::vector<std::pair<std::string, Tensor>>& nominal,
                        const std::vector<std::pair<std::string, Tensor>>& shadow) {
    for (size_t i = 0; i < nominal.size() && i < shadow.size(); ++i) {
      std::vector<double>& s = state_spread_[nominal[i].first];
      const std::vector<float> a = nominal[i].second.to_floats(), b = shadow[i].second.to_floats();
      s.resize(a.size());
      for (size_t k = 0; k < a.size() && k < b.size(); ++k)
        s[k] = std::max(s[k], std::abs(double(b[k]) - double(a[k])));
    }
  }

  // The allowance of one optimizer-state tensor ("<param>.exp_avg", ".exp_avg_sq",
  // ".master"), element by element: the direct effect on the raw moment (dm, dv before the
  // bias correction, which the state does not apply), or B for the master rows, plus the
  // shadow runs' spread of that tensor.
  std::vector<double> allowed_state(const std::string& name) const {
    const size_t dot = name.rfind('.');
    const std::string kind = name.substr(dot + 1);
    const State& st = state_.at(name.substr(0, dot));
    std::vector<double> a = kind == "exp_avg" ? st.dm : kind == "exp_avg_sq" ? st.dv : st.bound;
    const auto it = state_spread_.find(name);
    if (it != state_spread_.end())
      for (size_t i = 0; i < a.size() && i < it->second.size(); ++i) a[i] += it->second[i];
    return a;
  }

  // B + S laid out like p's whole value (0 where it does not train): a neuron-level
  // parameter's compact rows go back to their rows or columns.
  std::vector<double> allowed(const Parameter& p) const {
    std::vector<double> a = bound_like_value(p);
    const auto it = spread_.find(p.name);
    if (it != spread_.end())
      for (size_t i = 0; i < a.size() && i < it->second.size(); ++i) a[i] += it->second[i];
    return a;
  }

 private:
  // B alone, laid out like p's whole value: B is kept per element of the gradient (compact
  // rows of a neuron-level parameter, in neuron_index order).
  std::vector<double> bound_like_value(const Parameter& p) const {
    const auto it = state_.find(p.name);
    static const std::vector<double> none;
    const std::vector<double>& b = it == state_.end() ? none : it->second.bound;
    if (!p.neuron_level()) return b.empty() ? std::vector<double>(size_t(p.value.numel())) : b;
    std::vector<double> whole(size_t(p.value.numel()));
    if (b.empty()) return whole;
    // Where each compact entry sits in the value: selected_rows of the value's own positions.
    Parameter where = p;
    std::vector<int32_t> positions(whole.size());
    for (size_t i = 0; i < positions.size(); ++i) positions[i] = int32_t(i);
    where.value = Tensor::from_ints(positions, p.value.shape());
    const std::vector<int32_t> at = selected_rows(where).to_ints();
    for (size_t k = 0; k < at.size(); ++k) whole[size_t(at[k])] = b[k];
    return whole;
  }

  struct State {
    std::vector<double> m, v, dm, dv, bound;
  };
  optim::AdamWConfig c_;
  double tau_;
  int64_t t_ = 0;
  std::map<std::string, State> state_;
  std::map<std::string, std::vector<double>> spread_;        // S, laid out like the value
  std::map<std::string, std::vector<double>> state_spread_;  // S of each state tensor
};

// How many shadow runs make S.
constexpr int kShadowRuns = 3;

// A shadow run's perturbation, applied to the gradients before each update: every element
// moved by ±tau·max|g| of its tensor, the signs drawn from (seed, step, parameter).
inline void perturb_gradients(const ParameterList& params, double tau, uint64_t seed,
                              int64_t step) {
  for (Parameter* p : params) {
    if (!p->trainable || !p->grad.defined()) continue;
    std::vector<float> g = p->grad.to_floats();
    double g_max = 0;
    for (float x : g) g_max = std::max(g_max, double(std::abs(x)));
    std::seed_seq seq{uint64_t(seed), uint64_t(step), uint64_t(std::hash<std::string>{}(p->name))};
    std::mt19937_64 rng(seq);
    for (float& x : g) x += float((rng() & 1 ? tau : -tau) * g_max);
    p->grad.copy_from(Tensor::from_floats(g, p->grad.shape(), DType::F32, p->grad.device()));
  }
}

// What a reference run takes to be run as a shadow: called with the step's gradients before
// its update (a no-op for the unperturbed run).
using GradientHook = std::function<void(const ParameterList&, int64_t step)>;
inline GradientHook shadow_hook(uint64_t seed, double tau = kGradientTolerance) {
  return [seed, tau](const ParameterList& params, int64_t step) {
    perturb_gradients(params, tau, seed, step);
  };
}

// train::train_step of optimizer step `step` (the key of LoRA dropout's masks, as `neft train`
// passes it), with `hook` (a shadow run's perturbation) between the gradients and the update;
// without one it is train_step itself.
inline train::StepResult train_step_with(model::LlamaModel& model, optim::AdamW& optimizer,
                                         const std::vector<data::Batch>& micro_batches, float lr,
                                         float clip, const GradientHook& hook, int64_t step,
                                         const train::StepGroups& groups = {}) {
  if (!hook) return train::train_step(model, optimizer, micro_batches, lr, clip, groups, step);
  train::StepResult r = train::forward_backward(model, micro_batches, groups, step);
  hook(model.parameters(), step);
  r.grad_norm = train::gradient_norm(model, groups);
  optimizer.step(lr, optim::clip_factor(r.grad_norm, clip));
  return r;
}

// How `got` sits against `want` within `bound` (plus the weight's own rounding): the largest
// ratio of difference to allowance, and the element where it is.
struct BoundCheck {
  double worst_ratio = 0;
  size_t worst = 0;
  double diff = 0, allowed = 0;
  std::string str() const {
    std::ostringstream s;
    s << "element " << worst << " is " << diff << " off, allowed " << allowed << " (ratio "
      << worst_ratio << ")";
    return s.str();
  }
};

// check_within as an expectation on `what`: fails when an element is outside its allowance;
// returns the largest ratio, for the tests to print the margin.
inline double expect_within(const std::string& what, const std::vector<float>& got,
                            const std::vector<float>& want, const std::vector<double>& bound);

inline BoundCheck check_within(const std::vector<float>& got, const std::vector<float>& want,
                               const std::vector<double>& bound) {
  BoundCheck r;
  EXPECT_EQ(got.size(), want.size());
  EXPECT_EQ(bound.size(), want.size());
  const size_t n = std::min({got.size(), want.size(), bound.size()});
  for (size_t i = 0; i < n; ++i) {
    const double diff = std::abs(double(got[i]) - double(want[i]));
    const double allowed = bound[i] + kWeightRounding * std::abs(double(want[i]));
    const double ratio = allowed > 0 ? diff / allowed : (diff > 0 ? INFINITY : 0.0);
    if (ratio > r.worst_ratio) r = {ratio, i, diff, allowed};
  }
  return r;
}

inline double expect_within(const std::string& what, const std::vector<float>& got,
                            const std::vector<float>& want, const std::vector<double>& bound) {
  const BoundCheck c = check_within(got, want, bound);
  EXPECT_LE(c.worst_ratio, 1.0) << what << ": " << c.str();
  return c.worst_ratio;
}

}  // namespace neft::testing
