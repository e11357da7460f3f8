// Row and column gather/scatter. Both are linear, so finite differences are exact; each
// backward is written with the ops themselves (gather's is a scatter-add into zeros, and
// the other way round).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "runtime/ops/gather_scatter.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

// k distinct ids from [0, n), in random order.
Tensor distinct_ids(int64_t n, int64_t k, uint64_t seed) {
  std::vector<int32_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), std::mt19937(uint32_t(seed)));
  all.resize(size_t(k));
  return Tensor::from_ints(all, {k});
}

std::string dims(int64_t a, int64_t b, int64_t k) {
  std::string n = std::to_string(a);
  n += 'x';
  n += std::to_string(b);
  n += "_k";
  n += std::to_string(k);
  return n;
}

std::vector<int32_t> ids_of(const Values& v) { return std::vector<int32_t>(v.begin(), v.end()); }

struct Dims {
  int64_t r, c, k;
};

void add_row_cases(std::vector<OpCase>& cases, Dims s, uint64_t seed) {
  const int64_t r = s.r, c = s.c, k = s.k;
  const Tensor idx = distinct_ids(r, k, seed);

  OpCase g{"gather_rows",
           dims(r, c, k),
           {{"src", random_tensor({r, c}, seed + 1)}, {"idx", idx, false}}};
  g.forward = [=](const Tensors& in) {
    Tensor dst = empty_like(in[0], {k, c});
    ops::gather_rows(in[0], in[1], dst);
    return Tensors{dst};
  };
  g.backward = [=](const Tensors& in, const Tensors& grad) {
    Tensor dsrc = Tensor::zeros({r, c}, in[0].dtype(), in[0].device());
    ops::scatter_rows(grad[0], in[1], dsrc, true);
    return Tensors{dsrc};
  };
  g.reference = [=](const std::vector<Values>& in) {
    const std::vector<int32_t> id = ids_of(in[1]);
    Values y(size_t(k * c));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < c; ++j) y[size_t(i * c + j)] = in[0][size_t(id[i] * c + j)];
    return std::vector<Values>{y};
  };
  cases.push_back(g);

  for (bool acc : {false, true}) {
    OpCase sc{"scatter_rows",
              dims(r, c, k).append(acc ? "_acc" : ""),
              {{"src", random_tensor({k, c}, seed + 2)},
               {"idx", idx, false},
               {"dst", random_tensor({r, c}, seed + 3)}}};
    sc.forward = [=](const Tensors& in) {
      Tensor out = in[2].clone();
      ops::scatter_rows(in[0], in[1], out, acc);
      return Tensors{out};
    };
    sc.backward = [=](const Tensors& in, const Tensors& grad) {
      Tensor dsrc = empty_like(grad[0], {k, c});
      ops::gather_rows(grad[0], in[1], dsrc);
      Tensor ddst = grad[0].clone();
      // Overwritten rows of dst do not reach the output.
      if (!acc) ops::scatter_rows(Tensor::zeros({k, c}, ddst.dtype(), ddst.device()), in[1], ddst);
      return Tensors{dsrc, ddst};
    };
    sc.reference = [=](const std::vector<Values>& in) {
      const std::vector<int32_t> id = ids_of(in[1]);
      Values y = in[2];
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < c; ++j) {
          double& out = y[size_t(id[i] * c + j)];
          out = (acc ? out : 0.0) + in[0][size_t(i * c + j)];
        }
      return std::vector<Values>{y};
    };
    cases.push_back(sc);
  }
}

// Columns: src [r, c], k of the c columns selected.
void add_col_cases(std::vector<OpCase>& cases, Dims s, uint64_t seed) {
  const int64_t r = s.r, c = s.c, k = s.k;
  const Tensor idx = distinct_ids(c, k, seed);

  OpCase g{"gather_cols",
           dims(r, c, k),
           {{"src", random_tensor({r, c}, seed + 1)}, {"idx", idx, false}}};
  g.forward = [=](const Tensors& in) {
    Tensor dst = empty_like(in[0], {r, k});
    ops::gather_cols(in[0], in[1], dst);
    return Tensors{dst};
  };
  g.backward = [=](const Tensors& in, const Tensors& grad) {
    Tensor dsrc = Tensor::zeros({r, c}, in[0].dtype(), in[0].device());
    ops::scatter_cols(grad[0], in[1], dsrc, true);
    return Tensors{dsrc};
  };
  g.reference = [=](const std::vector<Values>& in) {
    const std::vector<int32_t> id = ids_of(in[1]);
    Values y(size_t(r * k));
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < k; ++j) y[size_t(i * k + j)] = in[0][size_t(i * c + id[j])];
    return std::vector<Values>{y};
  };
  cases.push_back(g);

  for (bool acc : {false, true}) {
    OpCase sc{"scatter_cols",
              dims(r, c, k).append(acc ? "_acc" : ""),
              {{"src", random_tensor({r, k}, seed + 2)},
               {"idx", idx, false},
               {"dst", random_tensor({r, c}, seed + 3)}}};
    sc.forward = [=](const Tensors& in) {
      Tensor out = in[2].clone();
      ops::scatter_cols(in[0], in[1], out, acc);
      return Tensors{out};
    };
    sc.backward = [=](const Tensors& in, const Tensors& grad) {
      Tensor dsrc = empty_like(grad[0], {r, k});
      ops::gather_cols(grad[0], in[1], dsrc);
      Tensor ddst = grad[0].clone();
      if (!acc) ops::scatter_cols(Tensor::zeros({r, k}, ddst.dtype(), ddst.device()), in[1], ddst);
      return Tensors{dsrc, ddst};
    };
    sc.reference = [=](const std::vector<Values>& in) {
      const std::vector<int32_t> id = ids_of(in[1]);
      Values y = in[2];
      for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < k; ++j) {
          double& out = y[size_t(i * c + id[j])];
          out = (acc ? out : 0.0) + in[0][size_t(i * k + j)];
        }
      return std::vector<Values>{y};
    };
    cases.push_back(sc);
  }
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 300;
  // Rows: k of r rows. K = 1 and K = R (every row, permuted) are the edge cases.
  for (Dims s : {Dims{173, 7, 5}, Dims{7, 4099, 3}, Dims{173, 7, 1}, Dims{7, 173, 7}})
    add_row_cases(cases, s, seed += 10);
  // Columns: k of c columns.
  for (Dims s : {Dims{7, 173, 5}, Dims{4099, 7, 3}, Dims{173, 7, 1}, Dims{173, 7, 7}})
    add_col_cases(cases, s, seed += 10);
  return cases;
}

CaseRegistrar registrar("gather_scatter", make_cases);

TEST(GatherScatterChecks, CpuRejectsBadIndices) {
  const Tensor src = random_tensor({3, 5}, 1);
  Tensor dst = Tensor::zeros({7, 5}, DType::F32);
  EXPECT_THROW(ops::scatter_rows(src, Tensor::from_ints({0, 7, 2}, {3}), dst), Error);
  EXPECT_THROW(ops::scatter_rows(src, Tensor::from_ints({0, -1, 2}, {3}), dst), Error);
  EXPECT_THROW(ops::scatter_rows(src, Tensor::from_ints({4, 1, 4}, {3}), dst), Error);
  Tensor cols = Tensor::empty({7, 2}, DType::F32);
  EXPECT_THROW(ops::gather_cols(dst, Tensor::from_ints({5, 0}, {2}), cols), Error);
  EXPECT_THROW(ops::gather_cols(dst, Tensor::from_ints({3, 3}, {2}), cols), Error);
  EXPECT_NO_THROW(ops::gather_cols(dst, Tensor::from_ints({4, 0}, {2}), cols));
}

// f32 master rows into bf16/f16 weights (and back) on CUDA: the same bits as rounding the
// CPU's f32 result once.
TEST(GatherScatterChecks, CudaMixedDtypes) {
  if (!cuda_available()) GTEST_SKIP() << "CUDA case skipped: " << cuda_unavailable_reason();
  const int64_t r = 37, c = 129, k = 9;
  const Tensor idx = distinct_ids(r, k, 5), idx_c = distinct_ids(c, k, 6);
  const Tensor rows = random_tensor({k, c}, 7, -3, 3), cols = random_tensor({r, k}, 8, -3, 3);
  const Tensor base = random_tensor({r, c}, 9, -3, 3);
  for (DType dt : {DType::BF16, DType::F16}) {
    SCOPED_TRACE(dtype_name(dt));
    for (bool acc : {false, true}) {
      Tensor want = base.clone();
      ops::scatter_rows(rows, idx, want, acc);
      Tensor want_c = base.clone();
      ops::scatter_cols(cols, idx_c, want_c, acc);
      // Accumulation reads the low-precision dst, so the CPU starts from the same values.
      const Tensor base_lp = Tensor::from_floats(base.to_floats(), {r, c}, dt, Device::CUDA);
      if (acc) {
        want = Tensor::from_floats(base_lp.to_floats(), {r, c});
        ops::scatter_rows(rows, idx, want, true);
        want_c = Tensor::from_floats(base_lp.to_floats(), {r, c});
        ops::scatter_cols(cols, idx_c, want_c, true);
      }
      Tensor got = base_lp.clone(), got_c = base_lp.clone();
      ops::scatter_rows(rows.to(Device::CUDA), idx.to(Device::CUDA), got, acc);
      ops::scatter_cols(cols.to(Device::CUDA), idx_c.to(Device::CUDA), got_c, acc);
      EXPECT_EQ(got.to_floats(), Tensor::from_floats(want.to_floats(), {r, c}, dt).to_floats());
      EXPECT_EQ(got_c.to_floats(), Tensor::from_floats(want_c.to_floats(), {r, c}, dt).to_floats());
    }
    // Low-precision weights gathered into f32: exact.
    const Tensor w = Tensor::from_floats(base.to_floats(), {r, c}, dt, Device::CUDA);
    Tensor g = Tensor::empty({k, c}, DType::F32, Device::CUDA);
    ops::gather_rows(w, idx.to(Device::CUDA), g);
    Tensor want = Tensor::empty({k, c}, DType::F32);
    ops::gather_rows(Tensor::from_floats(w.to_floats(), {r, c}), idx, want);
    EXPECT_EQ(g.to_floats(), want.to_floats());
  }
}

}  // namespace
}  // namespace neft::testing
