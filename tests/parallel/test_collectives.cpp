// Every collective of the MPI backend against the result computed locally, on odd shapes
// and every dtype it takes, at whatever world size mpirun gives (1, 2, 4); the bytes_sent
// accounting; and the one-line errors for mismatched arguments.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "helpers.h"
#include "parallel/process_groups.h"
#include "runtime/device.h"

namespace neft::parallel {
namespace {

using testing::error_of;
using testing::rank_values;
using testing::world_rank;
using testing::world_size;

std::unique_ptr<Communicator> world_comm() {
  return std::move(make_process_groups(1, 1, Backend::MPI).world);
}

std::string describe(DType d) { return std::string("dtype ") + dtype_name(d); }

TEST(Collectives, AllReduceSumsOrTakesTheMaxInEveryDtype) {
  auto world = world_comm();
  const int S = world_size();
  const Shape shape{7, 3};
  for (DType dtype : {DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64}) {
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max}) {
      Tensor t = Tensor::from_floats(rank_values(world_rank(), 21), shape, dtype);
      world->all_reduce(t, op);
      std::vector<float> expected(21, op == ReduceOp::Sum ? 0.0f : -1e9f);
      for (int r = 0; r < S; ++r) {
        const std::vector<float> v = rank_values(r, 21);
        for (size_t i = 0; i < v.size(); ++i)
          expected[i] = op == ReduceOp::Sum ? expected[i] + v[i] : std::max(expected[i], v[i]);
      }
      EXPECT_EQ(t.to_floats(), expected)
          << describe(dtype) << (op == ReduceOp::Sum ? " sum" : " max");
    }
  }
}

TEST(Collectives, AllGatherStacksEveryRanksTensorInRankOrder) {
  auto world = world_comm();
  const int S = world_size();
  for (DType dtype : {DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64}) {
    const Tensor in = Tensor::from_floats(rank_values(world_rank(), 15), {5, 3}, dtype);
    Tensor out = Tensor::empty({S * 5, 3}, dtype);
    world->all_gather(in, out);
    std::vector<float> expected;
    for (int r = 0; r < S; ++r) {
      const std::vector<float> v = rank_values(r, 15);
      expected.insert(expected.end(), v.begin(), v.end());
    }
    EXPECT_EQ(out.to_floats(), expected) << describe(dtype);
  }
}

TEST(Collectives, ReduceScatterGivesEachRankTheSumOfItsBlock) {
  auto world = world_comm();
  const int S = world_size(), me = world_rank();
  for (DType dtype : {DType::F32, DType::BF16, DType::I32}) {
    const int64_t block = 4 * 3;
    const Tensor in = Tensor::from_floats(rank_values(me, S * block), {S * 4, 3}, dtype);
    Tensor out = Tensor::empty({4, 3}, dtype);
    world->reduce_scatter(in, out);
    std::vector<float> expected(size_t(block), 0.0f);
    for (int r = 0; r < S; ++r) {
      const std::vector<float> v = rank_values(r, S * block);
      for (int64_t i = 0; i < block; ++i) expected[size_t(i)] += v[size_t(me * block + i)];
    }
    EXPECT_EQ(out.to_floats(), expected) << describe(dtype);
  }
}

TEST(Collectives, BroadcastCopiesTheRootsTensorFromEveryRoot) {
  auto world = world_comm();
  for (int root = 0; root < world_size(); ++root) {
    for (DType dtype : {DType::F32, DType::F16}) {
      Tensor t = Tensor::from_floats(rank_values(world_rank(), 11), {11}, dtype);
      world->broadcast(t, root);
      EXPECT_EQ(t.to_floats(), rank_values(root, 11)) << "root " << root << " " << describe(dtype);
    }
  }
}

TEST(Collectives, SendAndRecvPassATensorAroundTheRing) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto world = world_comm();
  const int S = world_size(), me = world_rank();
  const int next = (me + 1) % S, prev = (me + S - 1) % S;
  const Tensor mine = Tensor::from_floats(rank_values(me, 9), {3, 3});
  Tensor got = Tensor::zeros({3, 3}, DType::F32);
  // Even ranks send first, odd ranks receive first: a ring with no reliance on buffering.
  if (me % 2 == 0) {
    world->send(mine, next);
    world->recv(got, prev);
  } else {
    world->recv(got, prev);
    world->send(mine, next);
  }
  EXPECT_EQ(got.to_floats(), rank_values(prev, 9));
}

TEST(Collectives, BatchP2PExchangesWithBothNeighboursAtOnce) {
  auto world = world_comm();
  const int S = world_size(), me = world_rank();
  const int next = (me + 1) % S, prev = (me + S - 1) % S;
  // Every rank sends to both neighbours and receives from both, all posted before any waits
  // (the pattern of a pipeline step: activations forward, gradients back).
  Tensor to_next = Tensor::from_floats(rank_values(me, 6), {2, 3});
  Tensor to_prev = Tensor::from_floats(rank_values(me + 10, 5), {5}, DType::BF16);
  Tensor from_prev = Tensor::zeros({2, 3}, DType::F32);
  Tensor from_next = Tensor::zeros({5}, DType::BF16);
  world->batch_p2p({{P2POp::Send, &to_next, next},
                    {P2POp::Send, &to_prev, prev},
                    {P2POp::Recv, &from_prev, prev},
                    {P2POp::Recv, &from_next, next}});
  EXPECT_EQ(from_prev.to_floats(), rank_values(prev, 6));
  EXPECT_EQ(from_next.to_floats(), rank_values(next + 10, 5));
}

TEST(Collectives, BarrierHoldsEveryRankUntilTheLastArrives) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto world = world_comm();
  world->barrier();  // start together
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  if (world_rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  world->barrier();
  const double waited = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(waited, 0.2) << "rank " << world_rank() << " left the barrier before rank 0 arrived";
}

TEST(Collectives, BytesSentCountTheRingVolume) {
  auto world = world_comm();
  const uint64_t S = uint64_t(world_size());
  uint64_t expected = 0;
  EXPECT_EQ(world->bytes_sent(), 0u);

  Tensor t = Tensor::zeros({7, 3}, DType::F32);  // 84 bytes
  world->all_reduce(t);
  expected += 2 * 84 * (S - 1) / S;
  EXPECT_EQ(world->bytes_sent(), expected) << "all_reduce";

  Tensor half = Tensor::zeros({7, 3}, DType::BF16);  // counted in its own dtype: 42 bytes
  world->all_reduce(half);
  expected += 2 * 42 * (S - 1) / S;
  EXPECT_EQ(world->bytes_sent(), expected) << "all_reduce bf16";

  Tensor gathered = Tensor::empty({int64_t(S) * 7, 3}, DType::F32);
  world->all_gather(t, gathered);
  expected += 84 * S * (S - 1) / S;
  EXPECT_EQ(world->bytes_sent(), expected) << "all_gather";

  Tensor part = Tensor::empty({7, 3}, DType::F32);
  world->reduce_scatter(gathered, part);
  expected += 84 * S * (S - 1) / S;
  EXPECT_EQ(world->bytes_sent(), expected) << "reduce_scatter";

  world->broadcast(t, 0);
  expected += 84 * (S - 1) / S;
  EXPECT_EQ(world->bytes_sent(), expected) << "broadcast";

  world->barrier();
  EXPECT_EQ(world->bytes_sent(), expected) << "barrier";

  // A ring exchange: each rank sends 12 + 40 bytes and receives as much.
  const int me = world_rank(), next = (me + 1) % int(S), prev = (me + int(S) - 1) % int(S);
  Tensor a = Tensor::zeros({3}, DType::F32), b = Tensor::zeros({10}, DType::F32);
  Tensor a_in = Tensor::zeros({3}, DType::F32), b_in = Tensor::zeros({10}, DType::F32);
  world->batch_p2p({{P2POp::Send, &a, next},
                    {P2POp::Send, &b, prev},
                    {P2POp::Recv, &a_in, prev},
                    {P2POp::Recv, &b_in, next}});
  expected += 12 + 40;
  EXPECT_EQ(world->bytes_sent(), expected) << "batch_p2p";
}

TEST(Collectives, MismatchedArgumentsAreOneLineErrorsNamingTheGroup) {
  auto world = world_comm();
  const int S = world_size();
  const std::string group = "on group world (size " + std::to_string(S) + ")";
  const Tensor in = Tensor::zeros({5, 3}, DType::F32);
  Tensor wrong = Tensor::empty({S * 5 + 1, 3}, DType::F32);
  EXPECT_EQ(error_of([&] { world->all_gather(in, wrong); }),
            "all_gather " + group + ": " + wrong.str() + " is not " + std::to_string(S) +
                " stacked copies of f32[5, 3] cpu along dim 0");
  Tensor wrong_dtype = Tensor::empty({S * 5, 3}, DType::BF16);
  EXPECT_NE(error_of([&] { world->all_gather(in, wrong_dtype); }).find("is not"),
            std::string::npos);
  Tensor out = Tensor::empty({4, 3}, DType::F32);
  EXPECT_NE(error_of([&] {
              world->reduce_scatter(in, out);
            }).find("reduce_scatter " + group + ": f32[5, 3] cpu is not"),
            std::string::npos);
  Tensor t = Tensor::zeros({2}, DType::F32);
  EXPECT_EQ(error_of([&] { world->broadcast(t, S); }),
            "broadcast " + group + ": root " + std::to_string(S) + " is not a rank of the group");
  EXPECT_EQ(error_of([&] { world->send(t, -1); }),
            "send " + group + ": peer -1 is not a rank of the group");
  EXPECT_EQ(error_of([&] { world->set_timeout_s(0); }),
            "timeout of group world must be positive, got 0");
}

TEST(Collectives, ARecvOfAnotherSizeThanTheSendIsAnError) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto world = world_comm();
  const std::string group = "on group world (size " + std::to_string(world_size()) + ")";
  // Shorter than expected: the receiver names both sizes.
  if (world_rank() == 0) world->send(Tensor::zeros({3}, DType::F32), 1);
  if (world_rank() == 1) {
    Tensor t = Tensor::zeros({4}, DType::F32);
    EXPECT_EQ(error_of([&] { world->recv(t, 0); }),
              "recv " + group +
                  ": expected f32[4] cpu (16 bytes) from rank 0, got a message of another size");
  }
  // Longer than expected: MPI's truncation error, on one line.
  if (world_rank() == 0) world->send(Tensor::zeros({5}, DType::F32), 1);
  if (world_rank() == 1) {
    Tensor t = Tensor::zeros({4}, DType::F32);
    const std::string message = error_of([&] { world->recv(t, 0); });
    EXPECT_EQ(message.rfind("recv " + group + ": MPI error: ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  world->barrier();
}

TEST(Collectives, LayoutsThatDoNotFitTheWorldAreErrorsOnEveryRank) {
  const int S = world_size();
  EXPECT_EQ(error_of([&] { make_process_groups(S + 1, 1, Backend::MPI); }),
            "world size " + std::to_string(S) + " is not divisible by tp " + std::to_string(S + 1) +
                " x pp 1");
}

TEST(Collectives, TheNcclBackendNeedsABuildWithCuda) {
  if (cuda_compiled()) GTEST_SKIP() << "this build has CUDA";
  EXPECT_EQ(error_of([] { make_process_groups(1, 1, Backend::NCCL); }),
            "the nccl backend needs a build with CUDA (this one has none); use mpi");
}

TEST(Collectives, DeviceTensorsGoThroughHostMemory) {
  if (!cuda_available()) GTEST_SKIP() << cuda_unavailable_reason();
  auto world = world_comm();
  const int S = world_size();
  Tensor t = Tensor::from_floats(rank_values(world_rank(), 10), {10}, DType::BF16, Device::CUDA);
  world->all_reduce(t);
  std::vector<float> expected(10, 0.0f);
  for (int r = 0; r < S; ++r)
    for (int i = 0; i < 10; ++i) expected[size_t(i)] += rank_values(r, 10)[size_t(i)];
  EXPECT_TRUE(t.is_cuda());
  EXPECT_EQ(t.to_floats(), expected);
  Tensor gathered = Tensor::empty({S * 10}, DType::BF16, Device::CUDA);
  world->all_gather(t, gathered);
  for (int r = 0; r < S; ++r)
    EXPECT_EQ(gathered.rows(r * 10, 10).to_floats(), expected) << "block " << r;
}

}  // namespace
}  // namespace neft::parallel
