// neft_op_bench: how fast each op runs, next to the vendor library and the device's peak.
//
// One row per (op, shape): the median time over --repeat calls after warm-up, the rate it
// achieves (GFLOP/s for compute-bound ops, GB/s of compulsory traffic for memory-bound
// ones), and for GEMM the same shape through the vendor library directly (cblas_sgemm on
// the CPU, cublasGemmEx on CUDA), timed alternately with ours in the same run. "% of peak"
// is against an estimate of the device's peak FLOP/s, or its memory bandwidth (measured
// memcpy on the CPU, the DRAM spec on CUDA).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/bench_util.h"
#include "benchmarks/device_peak.h"
#include "runtime/cpu_threads.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gemm.h"
// The other ops are benchmarked when this tree has them (they are written in parallel).
#if __has_include("runtime/ops/attention.h")
#include "runtime/ops/attention.h"
#define NEFT_BENCH_ATTENTION 1
#endif
#if __has_include("runtime/ops/rmsnorm.h")
#include "runtime/ops/rmsnorm.h"
#define NEFT_BENCH_RMSNORM 1
#endif
#if __has_include("runtime/ops/swiglu.h")
#include "runtime/ops/swiglu.h"
#define NEFT_BENCH_SWIGLU 1
#endif
#if __has_include("runtime/ops/rope.h")
#include "runtime/ops/rope.h"
#define NEFT_BENCH_ROPE 1
#endif
#if __has_include("runtime/ops/cross_entropy.h")
#include "runtime/ops/cross_entropy.h"
#define NEFT_BENCH_CROSS_ENTROPY 1
#endif
#if __has_include("runtime/ops/cast.h")
#include "runtime/ops/cast.h"
#define NEFT_BENCH_CAST 1
#endif
#if __has_include("runtime/ops/gather_scatter.h")
#include "runtime/ops/gather_scatter.h"
#define NEFT_BENCH_GATHER_SCATTER 1
#endif
#if __has_include("runtime/ops/embedding.h")
#include "runtime/ops/embedding.h"
#define NEFT_BENCH_EMBEDDING 1
#endif
#if __has_include("runtime/ops/reduce.h")
#include "runtime/ops/reduce.h"
#define NEFT_BENCH_REDUCE 1
#endif
#if __has_include("runtime/ops/adamw.h")
#include "runtime/ops/adamw.h"
#define NEFT_BENCH_ADAMW 1
#endif
#include "runtime/stream.h"
#include "runtime/tensor.h"

#ifdef NEFT_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

namespace neft::bench {
namespace {

struct Options {
  Device device = Device::CPU;
  int repeat = 0;  // 0: the device's default
  bool quick = false;
};

// ---- timing -------------------------------------------------------------------------

// Times single calls: wall clock on the CPU (every op is synchronous there), CUDA events
// on the current stream.
class Timer {
 public:
  explicit Timer(Device d) : device_(d) {
    if (d == Device::CUDA) {
      start_ = Event::create(d);
      stop_ = Event::create(d);
    }
  }
  ~Timer() {
    if (device_ == Device::CUDA) {
      start_.destroy();
      stop_.destroy();
    }
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  double ms(const std::function<void()>& f) {
    if (device_ == Device::CPU) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
          .count();
    }
    const Stream s = current_stream(device_);
    start_.record(s);
    f();
    stop_.record(s);
    stop_.synchronize();
    return stop_.elapsed_ms(start_);
  }

 private:
  Device device_;
  Event start_, stop_;
};

// Medians of `fns` called alternately (ours, reference, ours, ...), so that clock and
// thermal drift hit both sides alike.
std::vector<double> median_ms(Device d, int warmup, int repeat,
                              const std::vector<std::function<void()>>& fns) {
  Timer timer(d);
  for (int w = 0; w < warmup; ++w)
    for (const auto& f : fns) f();
  std::vector<std::vector<double>> t(fns.size());
  for (int r = 0; r < repeat; ++r)
    for (size_t i = 0; i < fns.size(); ++i) t[i].push_back(timer.ms(fns[i]));
  std::vector<double> out;
  for (auto& v : t) out.push_back(median(v));
  return out;
}

// ---- rows ---------------------------------------------------------------------------

struct Row {
  std::string op, shape, dtype;
  double ms = 0;
  double work = 0;      // FLOPs, or bytes for memory-bound ops
  bool compute = true;  // work is FLOPs
  std::optional<double> ref_ms;
};

class Table {
 public:
  explicit Table(const Peak& peak) : peak_(peak) {}
  void add(Row r) {
    print(r);
    rows_.push_back(std::move(r));
  }
  void header() const {
    std::printf("%-22s %-26s %-5s %10s %14s %10s %14s %9s %8s\n", "op", "shape", "dtype",
                "median ms", "achieved", "ref ms", "reference", "ours/ref", "% peak");
    std::printf("%s\n", std::string(124, '-').c_str());
  }
  void section(const char* title) const { std::printf("-- %s\n", title); }

 private:
  static std::string rate(const Row& r, double ms) {
    return fmt("%.1f %s", r.work / (ms * 1e-3) / 1e9, r.compute ? "GFLOP/s" : "GB/s");
  }
  void print(const Row& r) const {
    const double peak = r.compute ? peak_.flops : peak_.bytes_per_s;
    const double pct = 100.0 * (r.work / (r.ms * 1e-3)) / peak;
    std::string ref_ms = "-", ref_rate = "-", ratio = "-";
    if (r.ref_ms) {
      ref_ms = fmt("%.3f", *r.ref_ms);
      ref_rate = rate(r, *r.ref_ms);
      ratio = fmt("%.2f", *r.ref_ms / r.ms);
    }
    std::printf("%-22s %-26s %-5s %10.3f %14s %10s %14s %9s %7.1f%%\n", r.op.c_str(),
                r.shape.c_str(), r.dtype.c_str(), r.ms, rate(r, r.ms).c_str(), ref_ms.c_str(),
                ref_rate.c_str(), ratio.c_str(), pct);
    std::fflush(stdout);
  }
  Peak peak_;
  std::vector<Row> rows_;

 public:
  // ours/reference over the rows that have a reference.
  void summary() const {
    double lo = 1e30, log_sum = 0;
    int n = 0;
    for (const Row& r : rows_)
      if (r.ref_ms) {
        const double ratio = *r.ref_ms / r.ms;
        lo = std::min(lo, ratio);
        log_sum += std::log(ratio);
        ++n;
      }
    if (n)
      std::printf(
          "\nGEMM ours/reference over %d shapes: min %.2f, geometric mean %.2f "
          "(target >= 0.90)\n",
          n, lo, std::exp(log_sum / n));
  }
};

struct Bench {
  Options opt;
  Table* table;
  DType dtype;  // activations: f32 on the CPU, bf16 on CUDA
  int warmup;
  int repeat;

  Tensor random(const Shape& s, uint64_t seed, DType dt) const {
    Tensor t = Tensor::empty(s, dt, opt.device);
    ops::fill_uniform(t, seed, 0, -1.0f, 1.0f);
    return t;
  }
  Tensor random(const Shape& s, uint64_t seed) const { return random(s, seed, dtype); }
  Tensor zeros(const Shape& s, DType dt) const { return Tensor::zeros(s, dt, opt.device); }
  Tensor ints(std::vector<int32_t> v) const {
    const int64_t n = int64_t(v.size());
    return Tensor::from_ints(v, {n}, opt.device);
  }
  bool cuda() const { return opt.device == Device::CUDA; }
  double es() const { return double(dtype_size(dtype)); }
  // A memory-bound row: `bytes` of compulsory traffic per call.
  void mem_row(const std::string& op, const std::string& shape, double bytes,
               const std::function<void()>& f) const {
    const double ms = median_ms(opt.device, warmup, repeat, {f})[0];
    table->add({op, shape, dtype_name(dtype), ms, bytes, false, std::nullopt});
  }
  void flop_row(const std::string& op, const std::string& shape, double flops,
                const std::function<void()>& f, int warm) const {
    const double ms = median_ms(opt.device, warm, repeat, {f})[0];
    table->add({op, shape, dtype_name(dtype), ms, flops, true, std::nullopt});
  }
  // OpenBLAS's threads spin for a while after a GEMM and OpenMP's after a loop; on a few
  // cores that would be charged to whatever runs next, so sections start from quiet pools.
  void settle() const {
    if (!cuda()) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const char* dname() const { return dtype_name(dtype); }
  void sync() const { device_synchronize(opt.device); }
};

std::string dims(std::initializer_list<int64_t> d, const char* sep = "x") {
  std::string s;
  for (int64_t v : d) {
    if (!s.empty()) s += sep;
    s += std::to_string(v);
  }
  return s;
}

// ---- GEMM ---------------------------------------------------------------------------

struct GemmShape {
  const char* what;  // the layer it stands for
  int64_t m, n, k;
  bool trans_a, trans_b;
  float beta;
};

#ifdef NEFT_WITH_CUDA
cublasHandle_t cublas() {
  static cublasHandle_t h = [] {
    cublasHandle_t handle;
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) fail("cublasCreate failed");
    return handle;
  }();
  return h;
}
#endif

// The same row-major GEMM through the vendor library, without our layer in between.
std::function<void()> reference_gemm(const Bench& b, const GemmShape& g, const Tensor& a,
                                     const Tensor& bm, Tensor& c) {
  const int64_t lda = a.size(-1), ldb = bm.size(-1), ldc = c.size(-1);
  if (b.opt.device == Device::CPU) {
    return [=, &a, &bm, &c] {
      cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                  g.trans_b ? CblasTrans : CblasNoTrans, blasint(g.m), blasint(g.n), blasint(g.k),
                  1.0f, a.data<float>(), blasint(lda), bm.data<float>(), blasint(ldb), g.beta,
                  c.data<float>(), blasint(ldc));
    };
  }
#ifdef NEFT_WITH_CUDA
  return [=, &a, &bm, &c] {
    const float alpha = 1.0f, beta = g.beta;
    cublasSetStream(cublas(), cudaStream_t(current_stream(Device::CUDA).handle));
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
    const cublasStatus_t s = cublasGemmEx(
        cublas(), g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
        int(g.n), int(g.m), int(g.k), &alpha, bm.raw(), CUDA_R_16BF, int(ldb), a.raw(), CUDA_R_16BF,
        int(lda), &beta, c.raw(), CUDA_R_16BF, int(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS) fail("cublasGemmEx failed: ", cublasGetStatusString(s));
  };
#else
  fail("unreachable: CUDA reference in a CPU-only build");
#endif
}

void bench_gemm(Bench& b) {
  // Llama-ish linear layers as [tokens, in] -> [tokens, out]: forward y = x W^T (NT),
  // backward dx = dy W (NN) and dW += dy^T x (TN, accumulating).
  std::vector<GemmShape> shapes;
  if (b.opt.device == Device::CPU) {
    if (b.opt.quick)
      shapes = {{"attn proj fwd", 512, 768, 768, false, true, 0.0f},
                {"mlp up fwd", 512, 2048, 768, false, true, 0.0f},
                {"mlp down dx", 512, 768, 2048, false, false, 0.0f},
                {"mlp up dW", 2048, 768, 512, true, false, 1.0f}};
    else
      shapes = {{"attn proj fwd", 512, 768, 768, false, true, 0.0f},
                {"mlp up fwd", 512, 3072, 768, false, true, 0.0f},
                {"qkv fwd", 2048, 2048, 2048, false, true, 0.0f},
                {"mlp down dx", 1024, 4096, 4096, false, false, 0.0f},
                {"mlp up dW", 4096, 2048, 1024, true, false, 1.0f},
                {"square", 2048, 2048, 2048, false, false, 0.0f}};
  } else {
    shapes = {{"square", 4096, 4096, 4096, false, false, 0.0f},
              {"square", 8192, 8192, 8192, false, false, 0.0f},
              {"qkv fwd", 8192, 6144, 4096, false, true, 0.0f},
              {"mlp up fwd", 8192, 14336, 4096, false, true, 0.0f},
              {"mlp down dx", 8192, 4096, 14336, false, false, 0.0f},
              {"mlp down dW", 4096, 14336, 8192, true, false, 1.0f},
              {"small", 512, 4096, 4096, false, true, 0.0f}};
    if (b.opt.quick) shapes.resize(3);
  }
  b.table->section(
      "GEMM  C[m, n] = op(A) op(B) (+ C): ours ops::gemm, reference the vendor library");
  for (const GemmShape& g : shapes) {
    const Tensor a = b.random(g.trans_a ? Shape{g.k, g.m} : Shape{g.m, g.k}, 1);
    const Tensor bm = b.random(g.trans_b ? Shape{g.n, g.k} : Shape{g.k, g.n}, 2);
    // beta = 1 keeps accumulating into C; scale the inputs down so values stay finite.
    Tensor c = b.random({g.m, g.n}, 3), c_ref = b.random({g.m, g.n}, 3);
    std::function<void()> ours = [&] { ops::gemm(a, g.trans_a, bm, g.trans_b, c, 1.0f, g.beta); };
    std::function<void()> ref = reference_gemm(b, g, a, bm, c_ref);
    // The large CPU shapes take a second or more a call: one warm-up is plenty.
    const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
    const int warmup = flops > 1e10 && b.opt.device == Device::CPU ? 1 : b.warmup;
    const std::vector<double> t = median_ms(b.opt.device, warmup, b.repeat, {ours, ref});
    std::string op = std::string("gemm ") + (g.trans_a ? "T" : "N") + (g.trans_b ? "T" : "N") +
                     (g.beta != 0.0f ? "+C" : "");
    b.table->add({op, dims({g.m, g.n, g.k}) + " " + g.what, b.dname(), t[0], flops, true, t[1]});
  }
}

// ---- memory-bound elementwise ops ---------------------------------------------------

void bench_elementwise(Bench& b) {
  b.settle();
  const int64_t n =
      b.opt.device == Device::CUDA ? (int64_t(1) << 28) : (b.opt.quick ? 1 << 23 : 1 << 24);
  const double es = double(dtype_size(b.dtype));
  b.table->section("elementwise (bytes: compulsory reads + writes)");
  const Tensor x = b.random({n}, 4);
  Tensor y = b.random({n}, 5), out = b.random({n}, 6);
  const std::string shape = std::to_string(n);
  auto row = [&](const char* op, double bytes, const std::function<void()>& f) {
    const double ms = median_ms(b.opt.device, b.warmup, b.repeat, {f})[0];
    b.table->add({op, shape, b.dname(), ms, bytes, false, std::nullopt});
  };
  row("add", 3 * es * n, [&] { ops::add(x, y, out); });
  // y ping-pongs between +x and -x so repeated calls keep it bounded.
  float sign = 1.0f;
  row("axpy", 3 * es * n, [&] {
    ops::axpy(sign, x, y);
    sign = -sign;
  });
  row("scale", 2 * es * n, [&] { ops::scale(out, 1.0f); });
  row("fill", es * n, [&] { ops::fill(out, 0.5f); });
}

// ---- the other ops (when present) --------------------------------------------------

// Distinct ids in [0, range), shuffled: the selected-neuron and token access patterns.
[[maybe_unused]] std::vector<int32_t> distinct_ids(int64_t count, int64_t range, uint64_t seed) {
  std::vector<int32_t> all(static_cast<size_t>(range));
  for (int64_t i = 0; i < range; ++i) all[size_t(i)] = int32_t(i);
  std::mt19937 gen(static_cast<uint32_t>(seed));
  std::shuffle(all.begin(), all.end(), gen);
  all.resize(size_t(count));
  return all;
}

[[maybe_unused]] std::vector<int32_t> random_ids(int64_t count, int64_t range, uint64_t seed) {
  std::mt19937 gen(static_cast<uint32_t>(seed));
  std::uniform_int_distribution<int32_t> d(0, int32_t(range - 1));
  std::vector<int32_t> v(static_cast<size_t>(count));
  for (int32_t& x : v) x = d(gen);
  return v;
}

// Causal attention; FLOPs count the two T x T x D products over the causal half:
// forward 4 B Hq T^2 D / 2, backward 2.5 times that. The first CPU shape is small-20m's at
// the training benchmark's batch 8 x seq 256.
void bench_attention(Bench& b) {
#ifdef NEFT_BENCH_ATTENTION
  struct Shape4 {
    int64_t batch, t, hq, hkv, d;
  };
  std::vector<Shape4> shapes;
  if (b.cuda())
    shapes = {{4, 4096, 32, 8, 128}, {8, 2048, 32, 32, 64}, {1, 8192, 32, 8, 128}};
  else
    shapes = b.opt.quick ? std::vector<Shape4>{{1, 256, 8, 2, 64}}
                         : std::vector<Shape4>{
                               {8, 256, 8, 4, 64}, {1, 512, 12, 4, 64}, {1, 1024, 8, 2, 128}};
  if (b.opt.quick && b.cuda()) shapes.resize(1);
  b.settle();
  b.table->section("attention (causal, GQA), FLOPs over the causal half");
  for (const Shape4& s : shapes) {
    const Tensor q = b.random({s.batch, s.t, s.hq, s.d}, 20);
    const Tensor k = b.random({s.batch, s.t, s.hkv, s.d}, 21);
    const Tensor v = b.random({s.batch, s.t, s.hkv, s.d}, 22);
    const Tensor dout = b.random({s.batch, s.t, s.hq, s.d}, 23);
    Tensor out = b.zeros({s.batch, s.t, s.hq, s.d}, b.dtype);
    Tensor lse = b.zeros({s.batch, s.hq, s.t}, DType::F32);
    Tensor dq = b.zeros(q.shape(), b.dtype), dk = b.zeros(k.shape(), b.dtype),
           dv = b.zeros(v.shape(), b.dtype);
    const double fwd = 4.0 * s.batch * s.hq * double(s.t) * s.t * s.d / 2;
    const std::string shape = dims({s.batch, s.t, s.hq, s.hkv, s.d}) + " BxTxHqxHkvxD";
    const int warm = b.cuda() ? b.warmup : 1;
    b.flop_row(
        "attention fwd", shape, fwd, [&] { ops::attention_forward(q, k, v, out, lse); }, warm);
    b.flop_row(
        "attention bwd", shape, 2.5 * fwd,
        [&] { ops::attention_backward(dout, q, k, v, out, lse, dq, dk, dv); }, warm);
  }
#else
  (void)b;
  std::printf("-- attention: not benchmarked (runtime/ops/attention.h absent at build time)\n");
#endif
}

void bench_memory_ops(Bench& b) {
  // Some may go unused when this tree lacks an op's header.
  [[maybe_unused]] const bool cuda = b.cuda(), quick = b.opt.quick;
  [[maybe_unused]] const double es = b.es();
  // Rows x features, sized well past the CPU's last-level cache.
  const int64_t rows = cuda ? 16384 : (quick ? 2048 : 4096);
  const int64_t cols = cuda ? 8192 : 4096;
  [[maybe_unused]] const std::string rc = dims({rows, cols});
  b.settle();
  b.table->section("memory-bound ops (bytes: compulsory reads + writes)");
#ifdef NEFT_BENCH_RMSNORM
  {
    const Tensor x = b.random({rows, cols}, 30), w = b.random({cols}, 31),
                 dy = b.random({rows, cols}, 32);
    Tensor y = b.zeros({rows, cols}, b.dtype), rstd = b.zeros({rows}, DType::F32);
    Tensor dx = b.zeros({rows, cols}, b.dtype), dw = b.zeros({cols}, DType::F32);
    b.mem_row("rmsnorm fwd", rc, es * (2.0 * rows * cols + cols) + 4.0 * rows,
              [&] { ops::rmsnorm_forward(x, w, 1e-5f, y, rstd); });
    b.mem_row("rmsnorm bwd", rc, es * (3.0 * rows * cols + cols) + 4.0 * rows + 8.0 * cols,
              [&] { ops::rmsnorm_backward(dy, x, w, rstd, dx, dw); });
  }
#else
  std::printf("-- rmsnorm: not benchmarked (runtime/ops/rmsnorm.h absent at build time)\n");
#endif
#ifdef NEFT_BENCH_SWIGLU
  {
    const int64_t f = cuda ? 14336 : cols;
    const std::string shape = dims({rows, f});
    const Tensor gate = b.random({rows, f}, 33), up = b.random({rows, f}, 34),
                 dh = b.random({rows, f}, 35);
    Tensor h = b.zeros({rows, f}, b.dtype), dgate = b.zeros({rows, f}, b.dtype),
           dup = b.zeros({rows, f}, b.dtype);
    const double n = double(rows) * f;
    b.mem_row("swiglu fwd", shape, 3 * es * n, [&] { ops::swiglu_forward(gate, up, h); });
    b.mem_row("swiglu bwd", shape, 5 * es * n,
              [&] { ops::swiglu_backward(dh, gate, up, dgate, dup); });
  }
#else
  std::printf("-- swiglu: not benchmarked (runtime/ops/swiglu.h absent at build time)\n");
#endif
#ifdef NEFT_BENCH_ROPE
  {
    const int64_t hd = 128, heads = cols / hd;
    const Tensor x = b.random({rows, heads, hd}, 36);
    std::vector<int32_t> pos(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) pos[size_t(i)] = int32_t(i % 4096);
    const Tensor positions = b.ints(pos);
    Tensor y = b.zeros({rows, heads, hd}, b.dtype);
    const std::string shape = dims({rows, heads, hd}) + " NxHxD";
    const double bytes = 2 * es * rows * heads * hd + 4.0 * rows;
    b.mem_row("rope fwd", shape, bytes, [&] { ops::rope_forward(x, positions, 10000.0f, y); });
    b.mem_row("rope bwd", shape, bytes, [&] { ops::rope_backward(x, positions, 10000.0f, y); });
  }
#else
  std::printf("-- rope: not benchmarked (runtime/ops/rope.h absent at build time)\n");
#endif
#ifdef NEFT_BENCH_CROSS_ENTROPY
  {
    const int64_t n = cuda ? 4096 : (quick ? 128 : 512), vocab = cuda ? 128256 : 32000;
    const Tensor logits = b.random({n, vocab}, 37);
    const Tensor targets = b.ints(random_ids(n, vocab, 38));
    Tensor losses = b.zeros({n}, DType::F32), lse = b.zeros({n}, DType::F32);
    Tensor dlosses = b.zeros({n}, DType::F32), dlogits = b.zeros({n, vocab}, b.dtype);
    ops::fill(dlosses, 1.0f / float(n));
    const std::string shape = dims({n, vocab}) + " NxV";
    b.mem_row("cross_entropy fwd", shape, es * n * vocab + 12.0 * n,
              [&] { ops::cross_entropy_forward(logits, targets, -100, losses, lse); });
    b.mem_row("cross_entropy bwd", shape, 2 * es * n * vocab + 12.0 * n, [&] {
      ops::cross_entropy_backward(dlosses, logits, targets, lse, 0, -100, dlogits);
    });
  }
#else
  std::printf(
      "-- cross_entropy: not benchmarked (runtime/ops/cross_entropy.h absent at build time)\n");
#endif
#ifdef NEFT_BENCH_CAST
  {
    // f32 master weights to bf16 compute weights (the mixed-precision step), both devices.
    const int64_t n = rows * cols;
    const Tensor src = b.random({n}, 39, DType::F32);
    Tensor dst = b.zeros({n}, DType::BF16);
    const double bytes = 6.0 * n;
    const double ms =
        median_ms(b.opt.device, b.warmup, b.repeat, {[&] { ops::cast(src, dst); }})[0];
    b.table->add({"cast f32->bf16", std::to_string(n), "mixed", ms, bytes, false, std::nullopt});
  }
#else
  std::printf("-- cast: not benchmarked (runtime/ops/cast.h absent at build time)\n");
#endif
#ifdef NEFT_BENCH_GATHER_SCATTER
  {
    // Selected neurons: a quarter of an MLP weight's rows (or columns) out to a compact copy
    // and back; the weight is twice the activations' size so that the traffic is not cached.
    const int64_t wr = 2 * rows, k = wr / 4, kc = cols / 4;
    const Tensor w = b.random({wr, cols}, 41);
    Tensor wt = b.random({wr, cols}, 42);
    const Tensor idx = b.ints(distinct_ids(k, wr, 40));
    Tensor packed = b.zeros({k, cols}, b.dtype);
    const std::string shape = dims({wr, cols}) + " k=" + std::to_string(k) + " rows";
    const double moved = es * double(k) * cols;
    b.mem_row("gather_rows", shape, 2 * moved + 4.0 * k, [&] { ops::gather_rows(w, idx, packed); });
    b.mem_row("scatter_rows +=", shape, 3 * moved + 4.0 * k,
              [&] { ops::scatter_rows(packed, idx, wt, true); });
    const Tensor cidx = b.ints(distinct_ids(kc, cols, 43));
    Tensor packed_cols = b.zeros({wr, kc}, b.dtype);
    const std::string cshape = dims({wr, cols}) + " k=" + std::to_string(kc) + " cols";
    const double cmoved = es * double(wr) * kc;
    b.mem_row("gather_cols", cshape, 2 * cmoved + 4.0 * kc,
              [&] { ops::gather_cols(w, cidx, packed_cols); });
    b.mem_row("scatter_cols", cshape, 2 * cmoved + 4.0 * kc,
              [&] { ops::scatter_cols(packed_cols, cidx, wt, false); });
  }
#else
  std::printf(
      "-- gather/scatter: not benchmarked (runtime/ops/gather_scatter.h absent at build time)\n");
#endif
#ifdef NEFT_BENCH_EMBEDDING
  {
    const int64_t vocab = 32000, n = rows;
    const Tensor table = b.random({vocab, cols}, 44);
    const Tensor tokens = b.ints(random_ids(n, vocab, 45));
    Tensor out = b.zeros({n, cols}, b.dtype);
    const std::string shape = dims({n, cols}) + " V=" + std::to_string(vocab);
    b.mem_row("embedding fwd", shape, 2 * es * n * cols + 4.0 * n,
              [&] { ops::embedding_forward(tokens, table, 0, out); });
  }
#else
  std::printf("-- embedding: not benchmarked (runtime/ops/embedding.h absent at build time)\n");
#endif
#ifdef NEFT_BENCH_REDUCE
  {
    const Tensor x = b.random({rows, cols}, 46);
    Tensor out = b.zeros({1}, DType::F32);
    b.mem_row("sum_squares", rc, es * rows * cols, [&] { ops::sum_squares(x, out, false); });
  }
#else
  std::printf("-- sum_squares: not benchmarked (runtime/ops/reduce.h absent at build time)\n");
#endif
#ifdef NEFT_BENCH_ADAMW
  {
    // f32 master weights and moments; the gradient in the activation dtype.
    const int64_t n = rows * cols;
    Tensor param = b.random({n}, 47, DType::F32), m = b.zeros({n}, DType::F32),
           v = b.zeros({n}, DType::F32);
    const Tensor grad = b.random({n}, 48);
    ops::AdamWParams hp;
    hp.weight_decay = 0.01f;
    // Reads param, m, v and grad; writes param, m and v.
    b.mem_row("adamw_update", std::to_string(n), (6 * 4.0 + es) * n,
              [&] { ops::adamw_update(param, grad, m, v, hp); });
    // Selected neurons: a quarter of a weight's rows, then written into the weight.
    const int64_t wr = 2 * rows, k = wr / 4;
    const Tensor idx = b.ints(distinct_ids(k, wr, 49));
    Tensor master = b.random({k, cols}, 50, DType::F32), mk = b.zeros({k, cols}, DType::F32),
           vk = b.zeros({k, cols}, DType::F32), weight = b.random({wr, cols}, 51);
    const Tensor gk = b.random({k, cols}, 52);
    b.mem_row("adamw_update_rows", dims({wr, cols}) + " k=" + std::to_string(k),
              (6 * 4.0 + 2 * es) * double(k) * cols + 4.0 * k,
              [&] { ops::adamw_update_rows(master, gk, mk, vk, hp, idx, 0, weight); });
  }
#else
  std::printf("-- adamw: not benchmarked (runtime/ops/adamw.h absent at build time)\n");
#endif
}

// ---- OpenMP / OpenBLAS thread interplay (CPU) --------------------------------------

// The runtime's loops run on OpenMP's team, GEMM on OpenBLAS's own threads; each pool
// spin-waits for a while after its work, which on a few cores steals time from the other.
// Measured here: each op alone (back to back) against each op right after the other.
void bench_interplay(Bench& b) {
  b.settle();
  b.table->section("CPU thread interplay: each op back to back vs right after the other pool's op");
  const int64_t m = 512, nn = 768, k = 768;
  const Tensor a = b.random({m, k}, 7), w = b.random({nn, k}, 8);
  Tensor c = b.random({m, nn}, 9);
  const int64_t n = 1 << 22;  // 48 MB of traffic, past the last-level cache
  const Tensor x = b.random({n}, 10), y = b.random({n}, 11);
  Tensor out = b.random({n}, 12);
  const double flops = 2.0 * m * nn * k, bytes = 3.0 * 4 * n;
  Timer timer(Device::CPU);
  auto gemm = [&] { ops::gemm(a, false, w, true, c); };
  auto add = [&] { ops::add(x, y, out); };
  const int reps = std::max(b.repeat * 4, 20);
  std::vector<double> g_alone, g_after, a_alone, a_after;
  for (int r = 0; r < 3; ++r) gemm(), add();
  for (int r = 0; r < reps; ++r) g_alone.push_back(timer.ms(gemm));
  for (int r = 0; r < reps; ++r) a_alone.push_back(timer.ms(add));
  for (int r = 0; r < reps; ++r) {
    add();
    g_after.push_back(timer.ms(gemm));
  }
  for (int r = 0; r < reps; ++r) {
    gemm();
    a_after.push_back(timer.ms(add));
  }
  const std::string gs = dims({m, nn, k}), as = std::to_string(n);
  b.table->add({"gemm NT back-to-back", gs, "f32", median(g_alone), flops, true, std::nullopt});
  b.table->add({"gemm NT after add", gs, "f32", median(g_after), flops, true, std::nullopt});
  b.table->add({"add back-to-back", as, "f32", median(a_alone), bytes, false, std::nullopt});
  b.table->add({"add after gemm", as, "f32", median(a_after), bytes, false, std::nullopt});
}

// ---- main -------------------------------------------------------------------------------

const char* kUsage =
    "usage: neft_op_bench [--device cpu|cuda] [--repeat N] [--quick] [--help]\n"
    "  --device   where the ops run (default: cuda when a GPU is visible, else cpu)\n"
    "  --repeat   timed calls per row after warm-up; the median is reported\n"
    "             (default: 7 on cpu, 20 on cuda; --quick: 3 and 10)\n"
    "  --quick    fewer and smaller shapes (a smoke run)\n";

int run(int argc, char** argv) {
  Options opt;
  opt.device = cuda_available() ? Device::CUDA : Device::CPU;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(arg, " needs a value (see --help)");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else if (arg == "--device") {
      opt.device = parse_device(value());
    } else if (arg == "--repeat") {
      const std::string v = value();
      char* end = nullptr;
      const long r = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || r < 1 || r > 100000)
        fail("--repeat must be a positive integer, got '", v, "'");
      opt.repeat = int(r);
    } else if (arg == "--quick") {
      opt.quick = true;
    } else {
      fail("unknown argument '", arg, "' (see --help)");
    }
  }
  if (opt.device == Device::CUDA && !cuda_available())
    fail("--device cuda: CUDA unavailable (", cuda_unavailable_reason(), ")");

  const bool cuda = opt.device == Device::CUDA;
  Peak peak;
#ifdef NEFT_WITH_CUDA
  if (cuda) peak = cuda_peak();
#endif
  if (!cuda) peak = cpu_peak(size_t(opt.quick ? 128 : 256) << 20);
  Bench b{opt, nullptr, cuda ? DType::BF16 : DType::F32, cuda ? 5 : 2,
          opt.repeat ? opt.repeat : (cuda ? (opt.quick ? 10 : 20) : (opt.quick ? 3 : 7))};
  Table table(peak);
  b.table = &table;

  std::printf("neft_op_bench on %s: median of %d timed calls after warm-up%s\n",
              device_name(opt.device), b.repeat, opt.quick ? " (--quick)" : "");
  if (!cuda)
    std::printf("  OpenMP threads %d; BLAS: %s, %d threads\n", omp_get_max_threads(),
                openblas_get_config(), openblas_get_num_threads());
  std::printf("  peak compute: %s\n  peak memory:  %s\n", peak.flops_note.c_str(),
              peak.bytes_note.c_str());
  std::printf("  GB/s counts each op's compulsory reads and writes once%s\n\n",
              cuda ? ""
                   : "; ops that write in place (scale, axpy) skip write-allocate traffic and "
                     "can pass the memcpy figure");
  table.header();
  bench_gemm(b);
  bench_elementwise(b);
  bench_attention(b);
  bench_memory_ops(b);
  if (!cuda) bench_interplay(b);
  table.summary();
  return 0;
}

}  // namespace
}  // namespace neft::bench

int main(int argc, char** argv) {
  neft::ensure_passive_openmp_wait(argv);
  try {
    return neft::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "neft_op_bench: %s\n", e.what());
    return 1;
  }
}
