// Token sampler: window layout, document-relative positions, and the seeded epoch order.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "data/permutation.h"
#include "data/token_sampler.h"
#include "tests/unit/data/data_testing.h"

namespace neft::data {
namespace {

using ::neft::data::testing::expect_error;
using ::neft::testing::TempDir;

TEST(DataTokenSampler, WindowsShiftTargetsAndRestartPositionsAtDocuments) {
  TempDir dir;
  write_token_file(dir.file("s.tok"), {{10, 11, 12}, {13, 14}, {15, 16, 17, 18}}, 32);
  const TokenSampler s(TokenFile(dir.file("s.tok")), /*T=*/4, /*seed=*/1);
  ASSERT_EQ(s.windows_per_epoch(), 2u);  // (9 - 1) / 4
  Batch b = Batch::padded(2, 4);
  s.fill_row(0, b, 0);
  s.fill_row(1, b, 1);
  EXPECT_EQ(b.tokens, (std::vector<int32_t>{10, 11, 12, 13, /**/ 14, 15, 16, 17}));
  EXPECT_EQ(b.targets, (std::vector<int32_t>{11, 12, 13, 14, /**/ 15, 16, 17, 18}));
  EXPECT_EQ(b.positions, (std::vector<int32_t>{0, 1, 2, 0, /**/ 1, 0, 1, 2}));
  EXPECT_EQ(b.task, (std::vector<int32_t>{-1, -1}));
  EXPECT_EQ(b.counted(), 8);
}

std::vector<uint64_t> epoch_order(const TokenSampler& s, uint64_t epoch) {
  std::vector<uint64_t> order;
  const uint64_t n = s.windows_per_epoch();
  for (uint64_t k = epoch * n; k < (epoch + 1) * n; ++k) order.push_back(s.window_at(k));
  return order;
}

TEST(DataTokenSampler, EachEpochVisitsEveryWindowOnceInASeededOrder) {
  TempDir dir;
  std::vector<int32_t> doc(1000);
  for (size_t i = 0; i < doc.size(); ++i) doc[i] = int32_t(i % 50);
  write_token_file(dir.file("s.tok"), {doc}, 50);
  const TokenSampler a(TokenFile(dir.file("s.tok")), 7, 42);
  const TokenSampler same(TokenFile(dir.file("s.tok")), 7, 42);
  const TokenSampler other(TokenFile(dir.file("s.tok")), 7, 43);
  ASSERT_EQ(a.windows_per_epoch(), 142u);
  const std::vector<uint64_t> e0 = epoch_order(a, 0), e1 = epoch_order(a, 1);
  EXPECT_EQ(std::set<uint64_t>(e0.begin(), e0.end()).size(), 142u);
  EXPECT_EQ(*std::max_element(e0.begin(), e0.end()), 141u);
  EXPECT_EQ(std::set<uint64_t>(e1.begin(), e1.end()).size(), 142u);
  EXPECT_NE(e0, e1);  // reshuffled every epoch
  EXPECT_EQ(e0, epoch_order(same, 0));
  EXPECT_NE(e0, epoch_order(other, 0));
  std::vector<uint64_t> identity(142);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(e0, identity);
}

TEST(DataTokenSampler, TooFewTokensNamesTheFile) {
  TempDir dir;
  write_token_file(dir.file("short.tok"), {{1, 2, 3}}, 8);
  expect_error([&] { TokenSampler s(TokenFile(dir.file("short.tok")), 3, 0); },
               {dir.file("short.tok"), "3 tokens are too few", "T+1 = 4"});
  EXPECT_NO_THROW(TokenSampler(TokenFile(dir.file("short.tok")), 2, 0));
}

TEST(DataPermutation, IsABijectionForEverySize) {
  for (uint64_t n : {1, 2, 3, 4, 5, 16, 17, 100, 1000, 4097}) {
    const SeededPermutation p(n, 7, 3);
    std::vector<bool> seen(n, false);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t v = p(i);
      ASSERT_LT(v, n);
      EXPECT_FALSE(seen[v]) << "n=" << n << " value " << v << " twice";
      seen[v] = true;
    }
  }
}

TEST(DataPermutation, SeedAndStreamChooseTheOrder) {
  auto order = [](uint64_t seed, uint64_t stream) {
    const SeededPermutation p(500, seed, stream);
    std::vector<uint64_t> v;
    for (uint64_t i = 0; i < 500; ++i) v.push_back(p(i));
    return v;
  };
  EXPECT_EQ(order(1, 0), order(1, 0));
  EXPECT_NE(order(1, 0), order(2, 0));
  EXPECT_NE(order(1, 0), order(1, 1));
  // Shuffled, not merely rotated: few elements stay in place.
  const std::vector<uint64_t> v = order(1, 0);
  int fixed = 0;
  for (uint64_t i = 0; i < v.size(); ++i) fixed += v[i] == i;
  EXPECT_LT(fixed, 10);
  EXPECT_THROW(SeededPermutation(0, 1), Error);
}

}  // namespace
}  // namespace neft::data
