#include "neuron/selection.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "model/llama.h"
#include "runtime/error.h"

namespace neft::neuron {

namespace {

using parallel::Communicator;

// ---- budgets --------------------------------------------------------------------------

const char* const kBudgetForms =
    "expected a neuron count such as 1000, a share of the neurons such as 5%, a share of the "
    "model's parameters such as 5%params, or a LoRA rank such as lora:8";

// A plain decimal number ("12", "0.5", "-3"): no exponent, no inf or nan, nothing after it.
bool parse_number(const std::string& s, double& out, bool& whole) {
  size_t i = s.empty() || s[0] != '-' ? 0 : 1;
  int digits = 0, dots = 0;
  for (size_t j = i; j < s.size(); ++j) {
    if (s[j] == '.') {
      ++dots;
    } else if (s[j] >= '0' && s[j] <= '9') {
      ++digits;
    } else {
      return false;
    }
  }
  if (digits == 0 || dots > 1) return false;
  out = std::strtod(s.c_str(), nullptr);
  whole = dots == 0;
  return std::isfinite(out);
}

std::string format_number(double x) {
  std::ostringstream s;
  s.precision(12);
  s << x;
  return s.str();
}

// ---- the order --------------------------------------------------------------------------

// A neuron's place in the order (score descending, id ascending) as one unsigned integer:
// key = rank_of_score * M + id, M = layers << 34 > every id, rank_of_score = the complement of
// the score's monotone 32-bit image, so that a higher score has a smaller key.
using Key = unsigned __int128;

uint32_t descending_image(float score) {
  if (score == 0) score = 0;  // -0 and +0 are one score: their tie breaks by id
  const uint32_t bits = std::bit_cast<uint32_t>(score);
  const uint32_t ascending = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
  return ~ascending;
}

// At most `neurons` neurons holding at most `params` parameters.
constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();
struct Allowance {
  int64_t neurons = kNoLimit, params = kNoLimit;
  bool holds(int64_t n, int64_t p) const { return n <= neurons && p <= params; }
};

// This rank's neurons of one part of the model (the whole of it, a layer, or the rank's
// own cell), in the order.
struct Ranked {
  std::vector<Key> keys;            // ascending
  std::vector<size_t> at;           // each key's index in LocalScores
  std::vector<int64_t> cum;         // cum[i]: the parameters of the first i
  size_t count_upto(Key x) const {  // how many keys are <= x
    return size_t(std::upper_bound(keys.begin(), keys.end(), x) - keys.begin());
  }
};

Ranked rank_neurons(const NeuronSpace& space, const LocalScores& mine,
                    const std::vector<size_t>& members, Key m) {
  std::vector<std::pair<Key, size_t>> order;
  order.reserve(members.size());
  for (size_t i : members)
    order.push_back({Key(descending_image(mine.values[i])) * m + Key(mine.ids[i]), i});
  std::sort(order.begin(), order.end());
  Ranked r;
  r.cum.push_back(0);
  for (const auto& [key, i] : order) {
    r.keys.push_back(key);
    r.at.push_back(i);
    r.cum.push_back(r.cum.back() + space.params_of(mine.ids[i]));
  }
  return r;
}

// ---- collectives -----------------------------------------------------------------------

bool active(const Communicator* c) { return c != nullptr && c->size() > 1; }

void sum_over(std::vector<int64_t>& v, const std::vector<Communicator*>& comms) {
  if (v.empty()) return;
  for (Communicator* c : comms) {
    if (!active(c)) continue;
    Tensor t = Tensor::empty({int64_t(v.size())}, DType::I64);
    std::memcpy(t.data<int64_t>(), v.data(), v.size() * sizeof(int64_t));
    c->all_reduce(t);
    std::memcpy(v.data(), t.data<int64_t>(), v.size() * sizeof(int64_t));
  }
}

// A sum of doubles over the groups, added in rank order (the communicator reduces no f64):
// every rank of a layout gets the same bits.
double sum_over(double x, const std::vector<Communicator*>& comms) {
  for (Communicator* c : comms) {
    if (!active(c)) continue;
    Tensor in = Tensor::empty({1}, DType::I64), out = Tensor::empty({c->size()}, DType::I64);
    in.data<int64_t>()[0] = std::bit_cast<int64_t>(x);
    c->all_gather(in, out);
    x = 0;
    for (int r = 0; r < c->size(); ++r) x += std::bit_cast<double>(out.data<int64_t>()[r]);
  }
  return x;
}

// ---- the threshold search ------------------------------------------------------------

// Points tried per part per round: each round narrows a part's interval about 32-fold, for
// one all-reduce of 2 x 31 int64 per part.
constexpr int kPoints = 31;

// For each part p (whose neurons, over all ranks of `comms`, number whole[p] holding
// whole_params[p]): how many of this rank's ranked[p] the longest prefix of the part's order
// that limits[p] holds takes. That prefix is every key below the first key x at which the
// prefix up to x no longer fits; x is found by narrowing [0, range) with the counts at
// kPoints keys per round, summed over `comms`.
std::vector<size_t> search(const std::vector<Ranked>& ranked, const std::vector<Allowance>& limits,
                           const std::vector<int64_t>& whole,
                           const std::vector<int64_t>& whole_params, Key range,
                           const std::vector<Communicator*>& comms) {
  const size_t parts = ranked.size();
  std::vector<Key> lo(parts, 0), hi(parts, range - 1);
  std::vector<bool> done(parts);
  std::vector<size_t> take(parts);
  for (size_t p = 0; p < parts; ++p) {
    if (limits[p].holds(whole[p], whole_params[p])) {  // the whole part fits
      done[p] = true;
      take[p] = ranked[p].keys.size();
    }
  }
  // Every rank of `comms` decides from the same sums, so all run the same rounds.
  for (;;) {
    for (size_t p = 0; p < parts; ++p)
      if (!done[p] && lo[p] == hi[p]) {
        done[p] = true;
        take[p] = size_t(std::lower_bound(ranked[p].keys.begin(), ranked[p].keys.end(), lo[p]) -
                         ranked[p].keys.begin());
      }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    std::vector<Key> points(parts * kPoints);
    std::vector<int64_t> sums(parts * kPoints * 2, 0);
    for (size_t p = 0; p < parts; ++p) {
      if (done[p]) continue;
      for (int i = 0; i < kPoints; ++i) {
        const Key x = lo[p] + (hi[p] - lo[p]) * Key(i + 1) / Key(kPoints + 1);
        const size_t n = ranked[p].count_upto(x);
        points[p * kPoints + size_t(i)] = x;
        sums[(p * kPoints + size_t(i)) * 2] = int64_t(n);
        sums[(p * kPoints + size_t(i)) * 2 + 1] = ranked[p].cum[n];
      }
    }
    sum_over(sums, comms);
    for (size_t p = 0; p < parts; ++p) {
      if (done[p]) continue;
      // The first failing key lies in [lo, hi]; the points split it (every point < hi).
      Key new_lo = lo[p];
      bool narrowed = false;
      for (int i = 0; i < kPoints && !narrowed; ++i) {
        const size_t j = p * kPoints + size_t(i);
        if (!limits[p].holds(sums[j * 2], sums[j * 2 + 1])) {
          hi[p] = points[j];
          narrowed = true;
        } else {
          new_lo = std::max(new_lo, points[j] + 1);
        }
      }
      lo[p] = new_lo;
    }
  }
  return take;
}

// The share of `x` for a piece of `part` parameters out of `whole`, with `before` in the
// pieces ahead of it: cumulative floors, so that the shares of all pieces add up to x.
int64_t share(int64_t x, int64_t before, int64_t part, int64_t whole) {
  if (x == kNoLimit) return kNoLimit;
  using I = __int128;
  return int64_t(I(x) * (before + part) / whole - I(x) * before / whole);
}

Allowance share(const Allowance& a, int64_t before, int64_t part, int64_t whole) {
  return {share(a.neurons, before, part, whole), share(a.params, before, part, whole)};
}

// ---- the budget as an allowance ---------------------------------------------------------

std::string neurons_of(const NeuronSpace& space) {
  return std::to_string(space.total_neurons()) + " " + space.kinds().str() + " neurons";
}

Allowance allowance(const NeuronSpace& space, const Budget& budget) {
  const std::string text = budget.str();
  Allowance a;
  auto check_params = [&](int64_t p) {
    if (p > space.total_params())
      fail("budget ", text, " (", p, " parameters): the model's ", space.kinds().str(),
           " neurons hold ", space.total_params(), " parameters");
    a.params = p;
  };
  if (budget.value < 0 || !std::isfinite(budget.value)) fail("budget ", text, " is negative");
  switch (budget.unit) {
    case Budget::Unit::Neurons:
      if (budget.value > double(space.total_neurons()))
        fail("budget ", text, " neurons: the model has ", neurons_of(space));
      a.neurons = int64_t(budget.value);
      break;
    case Budget::Unit::NeuronFraction:
      if (budget.value > 1) fail("budget ", text, " is above 100%");
      a.neurons = std::llround(budget.value * double(space.total_neurons()));
      break;
    case Budget::Unit::ParamFraction:
      if (budget.value > 1) fail("budget ", text, " is above 100%");
      check_params(int64_t(std::floor(budget.value * double(space.config().parameter_count()))));
      break;
    case Budget::Unit::LoraRank:
      // LoRA trains at least `rank` parameters: a larger rank is above the space before its
      // parameter count could overflow.
      if (budget.value > double(space.total_params()))
        fail("budget ", text, ": the model's ", space.kinds().str(), " neurons hold ",
             space.total_params(), " parameters");
      check_params(space.lora_params(int64_t(budget.value)));
      break;
  }
  return a;
}

[[noreturn]] void fail_empty(const NeuronSpace& space, const Budget& budget) {
  if (budget.unit == Budget::Unit::Neurons || budget.unit == Budget::Unit::NeuronFraction)
    fail("budget ", budget.str(), " selects no neuron: the model has ", neurons_of(space));
  std::string sizes;
  for (NeuronKind k : space.kinds().list())
    sizes += (sizes.empty() ? "one " : ", one ") + std::string(kind_name(k)) + " neuron has " +
             std::to_string(space.params_per_neuron(k)) + " parameters";
  fail("budget ", budget.str(), " selects no neuron: ", sizes);
}

}  // namespace

void check_budget(const NeuronSpace& space, const Budget& budget) {
  const Allowance a = allowance(space, budget);
  int64_t cheapest = kNoLimit;
  for (NeuronKind k : space.kinds().list())
    cheapest = std::min(cheapest, space.params_per_neuron(k));
  if (a.neurons == 0 || a.params < cheapest) fail_empty(space, budget);
}

namespace {

// ---- scopes ---------------------------------------------------------------------------

std::vector<size_t> all_indices(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// The indices into `mine` of the global selection.
std::vector<size_t> select_global(const NeuronSpace& space, const LocalScores& mine,
                                  const Allowance& a, Key m, const SelectionGroups& g) {
  const Ranked r = rank_neurons(space, mine, all_indices(mine.ids.size()), m);
  const std::vector<size_t> take =
      search({r}, {a}, {space.total_neurons()}, {space.total_params()}, m << 32, {g.tp, g.pp});
  return {r.at.begin(), r.at.begin() + ptrdiff_t(take[0])};
}

std::vector<size_t> select_per_layer(const NeuronSpace& space, const LocalScores& mine,
                                     const Allowance& a, Key m, const SelectionGroups& g,
                                     int pp_stage) {
  const int64_t layers = space.config().layers;
  const model::LayerRange range = model::stage_layers(layers, space.pp(), pp_stage);
  const int64_t layer_neurons = space.total_neurons() / layers;
  const int64_t layer_params = space.total_params() / layers;
  std::vector<std::vector<size_t>> members(size_t(range.last - range.first));
  for (size_t i = 0; i < mine.ids.size(); ++i)
    members[size_t(id_layer(mine.ids[i]) - range.first)].push_back(i);
  std::vector<Ranked> ranked;
  std::vector<Allowance> limits;
  for (int64_t l = range.first; l < range.last; ++l) {
    ranked.push_back(rank_neurons(space, mine, members[size_t(l - range.first)], m));
    limits.push_back(share(a, l * layer_params, layer_params, space.total_params()));
  }
  const size_t parts = ranked.size();
  const std::vector<size_t> take =
      search(ranked, limits, std::vector<int64_t>(parts, layer_neurons),
             std::vector<int64_t>(parts, layer_params), m << 32, {g.tp});
  std::vector<size_t> out;
  for (size_t p = 0; p < parts; ++p)
    out.insert(out.end(), ranked[p].at.begin(), ranked[p].at.begin() + ptrdiff_t(take[p]));
  return out;
}

// The parameters (tp rank, pp stage) owns: its stage's layers, 1/tp of each kind.
int64_t cell_params(const NeuronSpace& space, int pp_stage) {
  const model::LayerRange r = model::stage_layers(space.config().layers, space.pp(), pp_stage);
  return (r.last - r.first) * (space.total_params() / space.config().layers) / space.tp();
}

std::vector<size_t> select_balanced(const NeuronSpace& space, const LocalScores& mine,
                                    const Allowance& a, Key m, int tp_rank, int pp_stage) {
  int64_t before = 0;  // the parameters of the cells ahead, in (stage, tp rank) order
  for (int s = 0; s < pp_stage; ++s) before += cell_params(space, s) * space.tp();
  before += cell_params(space, pp_stage) * tp_rank;
  const Allowance mine_share = share(a, before, cell_params(space, pp_stage), space.total_params());
  const Ranked r = rank_neurons(space, mine, all_indices(mine.ids.size()), m);
  size_t n = 0;
  while (n < r.keys.size() && mine_share.holds(int64_t(n + 1), r.cum[n + 1])) ++n;
  return {r.at.begin(), r.at.begin() + ptrdiff_t(n)};
}

}  // namespace

// ---- public ----------------------------------------------------------------------------

Budget Budget::parse(const std::string& text) {
  Budget b;
  std::string number = text;
  auto strip = [&](const std::string& suffix) {
    if (number.size() < suffix.size() ||
        number.compare(number.size() - suffix.size(), suffix.size(), suffix) != 0)
      return false;
    number.resize(number.size() - suffix.size());
    return true;
  };
  if (text.rfind("lora:", 0) == 0) {
    b.unit = Unit::LoraRank;
    number = text.substr(5);
  } else if (strip("%params")) {
    b.unit = Unit::ParamFraction;
  } else if (strip("%")) {
    b.unit = Unit::NeuronFraction;
  } else {
    b.unit = Unit::Neurons;
  }
  double v = 0;
  bool whole = false;
  if (!parse_number(number, v, whole))
    fail("budget '", text, "' is malformed (", kBudgetForms, ")");
  if (v < 0) fail("budget ", text, " is negative");
  if (b.unit == Unit::Neurons && !whole)
    fail("budget ", text, ": a neuron count is a whole number (a share of the neurons is ", text,
         "%)");
  if (b.unit == Unit::LoraRank && !whole) fail("budget ", text, ": a LoRA rank is a whole number");
  if (b.unit == Unit::NeuronFraction || b.unit == Unit::ParamFraction) {
    if (v > 100) fail("budget ", text, " is above 100%");
    v /= 100;
  }
  b.value = v;
  return b;
}

std::string Budget::str() const {
  switch (unit) {
    case Unit::Neurons:
      return format_number(value);
    case Unit::NeuronFraction:
      return format_number(value * 100) + "%";
    case Unit::ParamFraction:
      return format_number(value * 100) + "%params";
    case Unit::LoraRank:
      return "lora:" + format_number(value);
  }
  return "?";
}

Scope scope_from_name(const std::string& name) {
  for (Scope s : {Scope::Global, Scope::PerLayer, Scope::Balanced})
    if (name == scope_name(s)) return s;
  fail("scope '", name, "' is unknown (expected global, per-layer or balanced)");
}

const char* scope_name(Scope scope) {
  switch (scope) {
    case Scope::Global:
      return "global";
    case Scope::PerLayer:
      return "per-layer";
    case Scope::Balanced:
      return "balanced";
  }
  return "?";
}

Selection select_neurons(const NeuronSpace& space, const LocalScores& mine, const Budget& budget,
                         Scope scope, const SelectionGroups& groups) {
  const int tp_rank = active(groups.tp) ? groups.tp->rank() : 0;
  const int pp_stage = active(groups.pp) ? groups.pp->rank() : 0;
  NEFT_CHECK(space.tp() == (active(groups.tp) ? groups.tp->size() : 1),
             "selection: the space's tp differs from the tp group's size");
  NEFT_CHECK(space.pp() == (active(groups.pp) ? groups.pp->size() : 1),
             "selection: the space's pp differs from the pp group's size");
  NEFT_CHECK(mine.ids == space.owned(tp_rank, pp_stage),
             "selection: the scores are not those of the neurons tp rank ", tp_rank,
             " of pp stage ", pp_stage, " owns");
  NEFT_CHECK(mine.values.size() == mine.ids.size(), "selection: ", mine.values.size(),
             " scores for ", mine.ids.size(), " neurons");
  for (size_t i = 0; i < mine.ids.size(); ++i)
    if (std::isnan(mine.values[i]))
      fail("selection: the score of ", id_str(mine.ids[i]), " is NaN");

  const Allowance a = allowance(space, budget);
  const Key m = Key(space.config().layers) << 34;  // above every id
  const std::vector<Communicator*> both{groups.tp, groups.pp};

  const std::vector<size_t> global = select_global(space, mine, a, m, groups);
  std::vector<size_t> chosen;
  switch (scope) {
    case Scope::Global:
      chosen = global;
      break;
    case Scope::PerLayer:
      chosen = select_per_layer(space, mine, a, m, groups, pp_stage);
      break;
    case Scope::Balanced:
      chosen = select_balanced(space, mine, a, m, tp_rank, pp_stage);
      break;
  }
  std::sort(chosen.begin(), chosen.end());  // indices into ascending ids: ascending ids

  Selection s;
  double retained = 0, global_retained = 0;
  for (size_t i : chosen) {
    s.ids.push_back(mine.ids[i]);
    s.scores.push_back(mine.values[i]);
    retained += mine.values[i];
  }
  for (size_t i : global) global_retained += mine.values[i];
  std::vector<int64_t> totals{int64_t(s.ids.size()), space.params_of(s.ids)};
  sum_over(totals, both);
  s.total_neurons = totals[0];
  s.total_params = totals[1];
  s.score_retained = sum_over(retained, both);
  s.score_global = scope == Scope::Global ? s.score_retained : sum_over(global_retained, both);
  if (s.total_neurons == 0) fail_empty(space, budget);
  return s;
}

}  // namespace neft::neuron
