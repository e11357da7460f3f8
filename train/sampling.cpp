#include "train/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "runtime/error.h"
#include "runtime/rng.h"

namespace neft::train {

void SamplingOptions::validate() const {
  if (!(temperature >= 0.0)) fail("--temperature must be >= 0 (0 is greedy), got ", temperature);
  if (top_k < 0) fail("--top-k must be >= 0 (0 keeps every token), got ", top_k);
  if (!(top_p > 0.0 && top_p <= 1.0)) fail("--top-p must be in (0, 1], got ", top_p);
}

int32_t sample_token(std::span<const float> logits, const SamplingOptions& o, uint64_t prompt,
                     uint64_t step) {
  NEFT_CHECK(!logits.empty(), "sample_token: no logits");
  if (o.greedy())  // the first maximum, as torch.argmax
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  // Candidates by descending logit (ties by id), cut to top_k.
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t k = o.top_k > 0 ? std::min(size_t(o.top_k), order.size()) : order.size();
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[size_t(a)] > logits[size_t(b)] ||
           (logits[size_t(a)] == logits[size_t(b)] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + long(k), order.end(), by_logit);
  order.resize(k);
  // softmax(logits / temperature) over the candidates, in double.
  const double top = double(logits[size_t(order[0])]) / o.temperature;
  std::vector<double> p(k);
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i)
    sum += p[i] = std::exp(double(logits[size_t(order[i])]) / o.temperature - top);
  // Nucleus: the shortest prefix whose probability reaches top_p.
  size_t keep = k;
  if (o.top_p < 1.0) {
    double cumulative = 0.0;
    for (size_t i = 0; i < k; ++i) {
      cumulative += p[i] / sum;
      if (cumulative >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += p[i];
  // One uniform draw in [0, total), walked along the kept candidates.
  const double u = double(rng::uniform01(rng::random_words(o.seed, prompt, step).v[0])) * total;
  double acc = 0.0;
  for (size_t i = 0; i < keep; ++i)
    if ((acc += p[i]) > u) return order[i];
  return order[keep - 1];
}

}  // namespace neft::train
