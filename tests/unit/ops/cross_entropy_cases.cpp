// Softmax cross-entropy: the full-vocabulary forward/backward through the harness, and the
// vocabulary-parallel form (stats of two shards combined by hand) against the full forward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "runtime/ops/cross_entropy.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

constexpr int32_t kIgnore = -100;

// Targets in [0, v), every third row (from row 1, so a single row still counts) ignored.
Tensor make_targets(int64_t n, int64_t v, uint64_t seed) {
  std::vector<int32_t> t = random_ints({n}, seed, 0, int32_t(v)).to_ints();
  for (int64_t i = 1; i < n; i += 3) t[size_t(i)] = kIgnore;
  return Tensor::from_ints(t, {n});
}

std::vector<OpCase> make_cases() {
  struct Size {
    int64_t n, v;
    float range;  // logits uniform in [-range, range]
  };
  const std::vector<Size> sizes = {{1, 7, 1},   {1, 173, 4},  {1, 4099, 8}, {7, 7, 4},
                                   {7, 173, 1}, {7, 4099, 4}, {173, 7, 8},  {173, 173, 4}};
  std::vector<OpCase> cases;
  uint64_t seed = 10;
  for (const Size& s : sizes) {
    OpCase c{"cross_entropy",
             std::to_string(s.n) + "x" + std::to_string(s.v),
             {{"logits", random_tensor({s.n, s.v}, seed, -s.range, s.range)},
              {"targets", make_targets(s.n, s.v, seed + 1), false}}};
    seed += 2;
    c.forward = [](const Tensors& in) {
      const int64_t n = in[0].size(0);
      Tensor losses = empty_as(in[0], {n}, DType::F32), lse = empty_as(in[0], {n}, DType::F32);
      ops::cross_entropy_forward(in[0], in[1], kIgnore, losses, lse);
      return Tensors{losses, lse};
    };
    c.backward = [](const Tensors& in, const Tensors& g) {
      const int64_t n = in[0].size(0);
      Tensor losses = empty_as(in[0], {n}, DType::F32), lse = empty_as(in[0], {n}, DType::F32);
      ops::cross_entropy_forward(in[0], in[1], kIgnore, losses, lse);
      Tensor dlogits = empty_like(in[0], in[0].shape());
      ops::cross_entropy_backward(g[0], in[0], in[1], lse, 0, kIgnore, dlogits);
      return Tensors{dlogits};
    };
    const int64_t n = s.n, v = s.v;
    c.reference = [=](const std::vector<Values>& in) {
      Values losses(static_cast<size_t>(n)), lse(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const double* row = in[0].data() + i * v;
        double sum = 0;
        for (int64_t j = 0; j < v; ++j) sum += std::exp(row[j]);
        lse[size_t(i)] = std::log(sum);
        const int32_t t = int32_t(in[1][size_t(i)]);
        losses[size_t(i)] = t == kIgnore ? 0.0 : lse[size_t(i)] - row[t];
      }
      return std::vector<Values>{losses, lse};
    };
    c.output_differentiable = {true, false};  // lse is a saved statistic, not a loss
    cases.push_back(c);
  }
  return cases;
}

CaseRegistrar registrar("cross_entropy", make_cases);

std::vector<Device> devices() {
  std::vector<Device> d = {Device::CPU};
  if (cuda_available()) d.push_back(Device::CUDA);
  return d;
}

// Columns [begin, begin + count) of a host [n, v] matrix, as a new tensor.
Tensor columns(const std::vector<float>& x, int64_t n, int64_t v, int64_t begin, int64_t count,
               DType dtype, Device device) {
  std::vector<float> out;
  for (int64_t i = 0; i < n; ++i)
    out.insert(out.end(), x.begin() + i * v + begin, x.begin() + i * v + begin + count);
  return Tensor::from_floats(out, {n, count}, dtype, device);
}

// The vocabulary-parallel recipe: per-shard stats, combined as the parallel layer will after
// its all-reduce, give the full forward's loss; each shard's backward with the global lse is
// exactly the matching columns of the full backward.
TEST(CrossEntropyShards, StatsCombineToFullLoss) {
  struct Split {
    int64_t n, v, first;  // the first shard has `first` columns
  };
  for (const Split& sp : {Split{7, 173, 60}, Split{5, 4099, 2048}, Split{1, 7, 3}}) {
    const std::vector<float> x = random_tensor({sp.n, sp.v}, 77, -6, 6).to_floats();
    const Tensor targets_host = make_targets(sp.n, sp.v, 78);
    const std::vector<int32_t> t = targets_host.to_ints();
    for (Device dev : devices()) {
      for (DType dtype : {DType::F32, DType::BF16}) {
        if (dev == Device::CPU && dtype != DType::F32) continue;
        SCOPED_TRACE(std::string(device_name(dev)) + " " + dtype_name(dtype) + " " +
                     std::to_string(sp.n) + "x" + std::to_string(sp.v));
        const Tensor targets = targets_host.to(dev);
        const Tensor full = columns(x, sp.n, sp.v, 0, sp.v, dtype, dev);
        Tensor losses = Tensor::empty({sp.n}, DType::F32, dev);
        Tensor lse = Tensor::empty({sp.n}, DType::F32, dev);
        ops::cross_entropy_forward(full, targets, kIgnore, losses, lse);
        Tensor dlosses = random_tensor({sp.n}, 79).to(dev);
        Tensor dfull = Tensor::empty({sp.n, sp.v}, DType::F32, dev);
        ops::cross_entropy_backward(dlosses, full, targets, lse, 0, kIgnore, dfull);
        const std::vector<float> want_loss = losses.to_floats(), dfull_h = dfull.to_floats();

        std::vector<double> big_m(size_t(sp.n), -INFINITY), sum(size_t(sp.n), 0),
            target_logit(size_t(sp.n), 0);
        std::vector<std::vector<float>> shard_m, shard_s;
        const int64_t starts[2] = {0, sp.first}, counts[2] = {sp.first, sp.v - sp.first};
        for (int r = 0; r < 2; ++r) {
          const Tensor shard = columns(x, sp.n, sp.v, starts[r], counts[r], dtype, dev);
          Tensor m = Tensor::empty({sp.n}, DType::F32, dev), s = m.clone(), tl = m.clone();
          ops::cross_entropy_stats(shard, targets, starts[r], m, s, tl);
          shard_m.push_back(m.to_floats());
          shard_s.push_back(s.to_floats());
          const std::vector<float> tlh = tl.to_floats();
          for (int64_t i = 0; i < sp.n; ++i) {
            big_m[size_t(i)] = std::max(big_m[size_t(i)], double(shard_m[r][size_t(i)]));
            target_logit[size_t(i)] += tlh[size_t(i)];
          }

          Tensor dshard = Tensor::empty({sp.n, counts[r]}, DType::F32, dev);
          ops::cross_entropy_backward(dlosses, shard, targets, lse, starts[r], kIgnore, dshard);
          const std::vector<float> dh = dshard.to_floats();
          for (int64_t i = 0; i < sp.n; ++i)
            for (int64_t j = 0; j < counts[r]; ++j)
              ASSERT_EQ(dh[size_t(i * counts[r] + j)], dfull_h[size_t(i * sp.v + starts[r] + j)])
                  << "shard " << r << " dlogits[" << i << ", " << j << "]";
        }
        for (int64_t i = 0; i < sp.n; ++i) {
          for (int r = 0; r < 2; ++r)
            sum[size_t(i)] +=
                shard_s[r][size_t(i)] * std::exp(shard_m[r][size_t(i)] - big_m[size_t(i)]);
          if (t[size_t(i)] == kIgnore) continue;
          const double loss = big_m[size_t(i)] + std::log(sum[size_t(i)]) - target_logit[size_t(i)];
          EXPECT_NEAR(loss, want_loss[size_t(i)], 2e-5 * (1 + std::abs(loss))) << "row " << i;
        }
      }
    }
  }
}

TEST(CrossEntropyShards, CpuRejectsOutOfRangeTarget) {
  const Tensor logits = random_tensor({3, 7}, 5);
  Tensor losses = Tensor::empty({3}, DType::F32), lse = Tensor::empty({3}, DType::F32);
  for (int32_t bad : {7, -1, 1000}) {
    const Tensor targets = Tensor::from_ints({0, bad, kIgnore}, {3});
    EXPECT_THROW(ops::cross_entropy_forward(logits, targets, kIgnore, losses, lse), Error);
  }
  const Tensor ok = Tensor::from_ints({0, 6, kIgnore}, {3});
  EXPECT_NO_THROW(ops::cross_entropy_forward(logits, ok, kIgnore, losses, lse));
}

}  // namespace
}  // namespace neft::testing
