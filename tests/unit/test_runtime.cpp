// Runtime basics: dtype conversions, tensors and views, the Philox generator.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/dtype.h"
#include "runtime/rng.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace neft {
namespace {

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16_bits(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between two bf16 values: ties go to the even mantissa (1.0).
  EXPECT_EQ(f32_to_bf16_bits(1.00390625f), 0x3f80);
  // 1 + 3 * 2^-8 is halfway too; the even neighbour is above.
  EXPECT_EQ(f32_to_bf16_bits(1.01171875f), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(NAN))));
  EXPECT_EQ(bf16_bits_to_f32(f32_to_bf16_bits(-3.5f)), -3.5f);
}

TEST(DType, F16RoundTripsRepresentableValues) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f /* min normal */,
                  5.960464477539063e-08f /* min subnormal */,
                  1.4901161193847656e-06f /* 25 subnormal steps */})
    EXPECT_EQ(f16_bits_to_f32(f32_to_f16_bits(v)), v) << v;
  EXPECT_EQ(f32_to_f16_bits(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16_bits(65536.0f), 0x7c00);            // overflow to inf
  EXPECT_EQ(f32_to_f16_bits(1.0f + 1.0f / 2048), 0x3c00);  // tie to even
  EXPECT_EQ(f32_to_f16_bits(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_EQ(dtype_from_name("bf16"), DType::BF16);
  EXPECT_THROW(dtype_from_name("f8"), Error);
}

TEST(Tensor, ViewsShareStorageAndRowsSlice) {
  Tensor t = Tensor::from_floats({0, 1, 2, 3, 4, 5}, {3, 2});
  Tensor r = t.rows(1, 2);
  EXPECT_EQ(r.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.to_floats(), (std::vector<float>{2, 3, 4, 5}));
  r.data<float>()[0] = 9;
  EXPECT_EQ(t.to_floats()[2], 9);
  EXPECT_EQ(t.view({-1}).shape(), (Shape{6}));
  EXPECT_THROW(t.view({4, 2}), Error);
  EXPECT_THROW(t.rows(2, 2), Error);
  EXPECT_THROW(t.data<int32_t>(), Error);
  EXPECT_EQ(t.clone().to_floats(), t.to_floats());
}

TEST(Tensor, CudaTensorsNeedTheBackend) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present; this checks the no-GPU error path";
  EXPECT_THROW(Tensor::empty({4}, DType::F32, Device::CUDA), Error);
}

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST(Rng, Philox4x32MatchesKnownAnswers) {
  const rng::U32x4 zero = rng::philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  const rng::U32x4 ones = rng::philox4x32_10({{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u);
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  const rng::U32x4 pi = rng::philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                           0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Rng, NormalHasUnitMoments) {
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = rng::normal(5, 0, uint64_t(i));
    sum += z;
    sq += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.01);
}

}  // namespace
}  // namespace neft

namespace neft {
namespace {

TEST(CudaRuntime, AllocatorReusesFreedBlocksAndCopiesRoundTrip) {
  if (!cuda_available()) GTEST_SKIP() << "CUDA case skipped: " << cuda_unavailable_reason();
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f};
  Tensor host = Tensor::from_floats(values, {5});
  const void* first = nullptr;
  {
    Tensor dev = host.to(Device::CUDA);
    first = dev.raw();
    EXPECT_EQ(dev.to(Device::CPU).to_floats(), values);
  }
  Tensor again = Tensor::empty({5}, DType::F32, Device::CUDA);
  EXPECT_EQ(again.raw(), first) << "a freed block of the same size class is handed out again";
  const MemoryStats s = memory_stats(Device::CUDA);
  EXPECT_GE(s.reserved, s.allocated);
  EXPECT_GE(s.peak, s.allocated);
}

TEST(CudaRuntime, EventsTimeQueuedWork) {
  if (!cuda_available()) GTEST_SKIP() << "CUDA case skipped: " << cuda_unavailable_reason();
  Stream s = current_stream(Device::CUDA);
  Event a = Event::create(Device::CUDA), b = Event::create(Device::CUDA);
  a.record(s);
  Tensor t = Tensor::zeros({1 << 20}, DType::F32, Device::CUDA);
  b.record(s);
  b.synchronize();
  EXPECT_GE(b.elapsed_ms(a), 0.0f);
  a.destroy();
  b.destroy();
}

TEST(CpuRuntime, MemoryStatsTrackHostTensors) {
  reset_peak_memory(Device::CPU);
  const size_t before = memory_stats(Device::CPU).allocated;
  {
    Tensor t = Tensor::empty({1024, 1024}, DType::F32);
    EXPECT_EQ(memory_stats(Device::CPU).allocated, before + (size_t(4) << 20));
  }
  EXPECT_EQ(memory_stats(Device::CPU).allocated, before);
  EXPECT_GE(memory_stats(Device::CPU).peak, before + (size_t(4) << 20));
}

}  // namespace
}  // namespace neft
