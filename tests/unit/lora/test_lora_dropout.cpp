// LoRA's dropout (lora/lora_dropout.h). The mask drops a share p of the entries, within a
// binomial bound, and scales the others by exactly 1 / (1 - p); it is the same whatever split
// of the input's columns a rank holds, and every part of its key gives another mask. With the
// fixture's adapter: evaluation and generation drop nothing (the logits of p = 0), a training
// pass does, and p = 0 trains bit for bit as a run without dropout, with no buffer of its own.
// The adapter's gradients with the mask held fixed are checked against finite differences by
// the op harness (lora_dropout_cases.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include "lora/lora.h"
#include "lora/lora_dropout.h"
#include "lora/peft_format.h"
#include "runtime/device.h"
#include "tests/unit/model/golden_fixture.h"
#include "tests/unit/model/random_batches.h"
#include "train/train_step.h"

namespace neft::lora {
namespace {

constexpr int64_t kRows = 64, kCols = 1000;  // 64000 entries
const model::MicroBatchKey kKey{5, 3};

// x [rows, cols] with no zero entry, so that a zero in dropout(x) is a dropped entry.
Tensor nonzero(int64_t rows, int64_t cols) {
  Tensor x = Tensor::empty({rows, cols}, DType::F32);
  ops::fill_uniform(x, 1, 0, 1.0f, 2.0f);
  return x;
}

std::vector<float> dropped(const Tensor& x, const ops::DropoutMask& m) {
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  ops::dropout(x, m, y);
  return y.to_floats();
}

// Six standard deviations of a binomial share over n draws: a correct mask lands outside with
// probability below 2e-9 (the normal tail; n p (1 - p) is in the thousands here), so with the
// fixed seeds below it does not; a mask that drops another share, or is not independent from
// entry to entry, misses by far more.
double six_sigma(double p, double n) { return 6 * std::sqrt(p * (1 - p) / n); }

TEST(LoraDropout, DropsAShareOfPAndScalesTheRestByOneOverOneMinusP) {
  const Tensor x = nonzero(kRows, kCols);
  const std::vector<float> in = x.to_floats();
  for (float p : {0.05f, 0.25f, 0.5f, 0.9f}) {
    const ops::DropoutMask m = dropout_mask(p, 11, kKey, 2, 4, kCols, 0);
    const std::vector<float> out = dropped(x, m);
    const float scale = float(1.0 / (1.0 - double(p)));
    int64_t zeros = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == 0.0f) {
        ++zeros;
        continue;
      }
      ASSERT_EQ(out[i], in[i] * scale) << "p " << p << ", entry " << i;  // one rounding
    }
    // The drop probability is ceil(p 2^24) / 2^24 (rng::keep): within 2^-24 of p.
    const double n = double(out.size()), share = double(zeros) / n;
    EXPECT_NEAR(share, p, six_sigma(p, n) + 0x1p-24) << "p " << p;
  }
}

TEST(LoraDropout, TheMaskIsTheSameAtEverySplitOfTheColumns) {
  const Tensor x = nonzero(kRows, kCols);
  const std::vector<float> in = x.to_floats();
  const float p = 0.3f;
  // The whole input, as a column-parallel base's ranks each hold it.
  const std::vector<float> whole = dropped(x, dropout_mask(p, 11, kKey, 1, 6, kCols, 0));
  // Row-parallel bases' ranks hold columns [col0, col0 + cols): splits as tp 2, 4 and an
  // uneven one would.
  for (const std::vector<int64_t>& edges :
       {std::vector<int64_t>{0, 500, 1000}, {0, 250, 500, 750, 1000}, {0, 3, 997, 1000}}) {
    for (size_t s = 0; s + 1 < edges.size(); ++s) {
      const int64_t col0 = edges[s], cols = edges[s + 1] - col0;
      std::vector<float> part(size_t(kRows * cols));
      for (int64_t i = 0; i < kRows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          part[size_t(i * cols + j)] = in[size_t(i * kCols + col0 + j)];
      const std::vector<float> got = dropped(Tensor::from_floats(part, {kRows, cols}),
                                             dropout_mask(p, 11, kKey, 1, 6, kCols, col0));
      for (int64_t i = 0; i < kRows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          ASSERT_EQ(got[size_t(i * cols + j)], whole[size_t(i * kCols + col0 + j)])
              << "columns from " << col0 << ", entry (" << i << ", " << j << ")";
    }
  }
}

TEST(LoraDropout, EveryPartOfTheKeyGivesAnotherMask) {
  const Tensor x = nonzero(kRows, kCols);
  const float p = 0.5f;
  auto mask = [&](uint64_t seed, model::MicroBatchKey key, int64_t layer, int64_t target) {
    const std::vector<float> y = dropped(x, dropout_mask(p, seed, key, layer, target, kCols, 0));
    std::vector<bool> kept(y.size());
    for (size_t i = 0; i < y.size(); ++i) kept[i] = y[i] != 0.0f;
    return kept;
  };
  const std::vector<bool> base = mask(11, kKey, 2, 4);
  EXPECT_EQ(mask(11, kKey, 2, 4), base);  // a pure function of the key
  // Independent masks agree on an entry with probability p² + (1 - p)² = 1/2: the share that
  // agrees is a binomial share, within six_sigma of it (a mask that repeats, or shifts by a
  // row, agrees everywhere or in a share far from 1/2 when rows repeat).
  const double n = double(base.size()), agree = p * p + (1 - p) * (1 - p);
  const struct {
    const char* what;
    std::vector<bool> kept;
  } others[] = {{"seed", mask(12, kKey, 2, 4)},
                {"step", mask(11, {kKey.step + 1, kKey.index}, 2, 4)},
                {"micro-batch", mask(11, {kKey.step, kKey.index + 1}, 2, 4)},
                {"layer", mask(11, kKey, 3, 4)},
                {"target", mask(11, kKey, 2, 5)}};
  for (const auto& o : others) {
    double same = 0;
    for (size_t i = 0; i < base.size(); ++i) same += o.kept[i] == base[i];
    EXPECT_NEAR(same / n, agree, six_sigma(agree, n)) << "another " << o.what;
  }
  // Rows of one mask are independent too: row 0 against row 1.
  double same = 0;
  for (int64_t j = 0; j < kCols; ++j) same += base[size_t(j)] == base[size_t(kCols + j)];
  EXPECT_NEAR(same / double(kCols), agree, six_sigma(agree, double(kCols)));
}

// The fixture model with PEFT's fixture adapter (B non-zero) at dropout p.
std::unique_ptr<model::LlamaModel> fixture_with_dropout(double p) {
  const std::string dir = testing::fixture_dir("gqa_untied");
  auto m = testing::load_fixture_model(dir, Device::CPU);
  PeftAdapter a = load_peft_adapter(dir + "/lora", &m->config());
  a.config.dropout = p;
  attach_lora(*m, a.config, 0);
  load_adapter_weights(*m, a, dir + "/lora");
  return m;
}

TEST(LoraDropout, EvaluationAndGenerationDropNothing) {
  auto plain = fixture_with_dropout(0), dropping = fixture_with_dropout(0.5);
  const std::vector<data::Batch> batches =
      ::neft::testing::random_batches(plain->config(), 2, 3, 2, 6);
  const data::BatchTensors t = data::to_tensors(batches[0], Device::CPU);
  auto logits = [&](model::LlamaModel& m) {
    m.forward(t.tokens, t.targets, t.positions);
    return m.logits().to_floats();
  };
  const std::vector<float> want = logits(*plain);
  EXPECT_EQ(logits(*dropping), want);  // no key: evaluation
  // A training step leaves no key behind: the evaluation after it drops nothing either.
  train::forward_backward(*dropping, batches, {}, 0);
  EXPECT_FALSE(dropping->micro_batch_key().has_value());
  EXPECT_EQ(logits(*dropping), want);
  // A training forward does drop (so the equalities above could fail).
  dropping->set_micro_batch_key(kKey);
  EXPECT_NE(logits(*dropping), want);
  dropping->set_micro_batch_key(std::nullopt);

  // Generation: the prompt, then one token at a time, through the KV cache.
  auto generated = [&](model::LlamaModel& m) {
    model::KvCache cache = m.make_cache(1, 8);
    std::vector<float> all =
        m.decode(Tensor::from_ints({3, 9, 4}, {1, 3}), Tensor::from_ints({0, 1, 2}, {1, 3}), cache)
            .to_floats();
    const std::vector<float> next =
        m.decode(Tensor::from_ints({7}, {1, 1}), Tensor::from_ints({3}, {1, 1}), cache).to_floats();
    all.insert(all.end(), next.begin(), next.end());
    return all;
  };
  EXPECT_EQ(generated(*dropping), generated(*plain));
}

// A pipeline stage runs another micro-batch's forward between a micro-batch's forward and its
// backward (model/stage_activations.h): the backward draws the masks of its own micro-batch's
// forward, whatever key is set at the time, so the gradients are those of forward and backward
// back to back.
TEST(LoraDropout, BackwardDrawsTheMasksOfItsOwnForward) {
  auto one = fixture_with_dropout(0.5), interleaved = fixture_with_dropout(0.5);
  const std::vector<data::Batch> batches =
      ::neft::testing::random_batches(one->config(), 2, 3, 2, 6);
  const model::MicroBatchKey keys[2] = {{4, 0}, {4, 1}};
  one->zero_grad();
  for (size_t k : {0, 1}) {
    const data::BatchTensors t = data::to_tensors(batches[k], Device::CPU);
    one->set_micro_batch_key(keys[k]);
    one->forward(t.tokens, t.targets, t.positions);
    one->backward(0.1f);
  }
  interleaved->zero_grad();
  for (size_t k : {0, 1}) {
    const data::BatchTensors t = data::to_tensors(batches[k], Device::CPU);
    interleaved->use_activation_slot(k);
    interleaved->set_micro_batch_key(keys[k]);
    interleaved->forward(t.tokens, t.targets, t.positions);
  }
  for (size_t k : {0, 1}) {  // the key left set is micro-batch 1's
    interleaved->use_activation_slot(k);
    interleaved->backward(0.1f);
  }
  EXPECT_EQ(interleaved->micro_batch_key()->index, 1);  // backward leaves the caller's key
  const ParameterList a = lora_parameters(*interleaved), b = lora_parameters(*one);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i]->grad.to_floats(), b[i]->grad.to_floats()) << a[i]->name;
}

TEST(LoraDropout, ZeroIsTheRunWithoutDropoutBitForBitAndHoldsNoBuffer) {
  auto keyed = fixture_with_dropout(0), unkeyed = fixture_with_dropout(0);
  const std::vector<data::Batch> batches =
      ::neft::testing::random_batches(keyed->config(), 3, 5, 2, 6);
  auto pass = [&](model::LlamaModel& m, std::optional<int64_t> step) {
    reset_peak_memory(Device::CPU);
    const int64_t before = int64_t(memory_stats(Device::CPU).allocated);
    const double loss = train::forward_backward(m, batches, {}, step).loss;
    return std::pair{loss, int64_t(memory_stats(Device::CPU).peak) - before};
  };
  const auto [loss, peak] = pass(*keyed, 4);  // a training pass: every micro-batch keyed
  const auto [want_loss, want_peak] = pass(*unkeyed, std::nullopt);
  EXPECT_EQ(loss, want_loss);
  EXPECT_EQ(peak, want_peak);  // the same buffers: no dropout buffer
  const ParameterList a = lora_parameters(*keyed), b = lora_parameters(*unkeyed);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i]->grad.to_floats(), b[i]->grad.to_floats()) << a[i]->name;

  // At p > 0 the training pass's loss is another one (the masks change it).
  auto dropping = fixture_with_dropout(0.5);
  EXPECT_NE(pass(*dropping, 4).first, want_loss);
}

}  // namespace
}  // namespace neft::lora
