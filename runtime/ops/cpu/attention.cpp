#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include <omp.h>

#include "runtime/ops/attention.h"
#include "runtime/ops/cpu/vec_math.h"

namespace neft::ops {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The causal score matrix is computed in tiles of kBlock queries x kBlock keys, small enough
// that a tile's q, k and v rows stay in L1/L2 while they are reused across the tile; no
// more than a tile of scores exists at a time. Tasks (blocks of rows, or whole heads) are
// chosen so that each output row has one writer and every sum has a fixed order.
constexpr int64_t kBlock = 64;

// Sizes and strides of one call: q/out/dq rows are (b, t, h), k/v/dk/dv rows (b, t, kvh).
// Query t of row b sees keys [start(b, t), t]; start never decreases along a row, so the
// queries of a tile that see a key are a prefix of those the causal mask lets through, and
// a tile whose first query starts after a key tile sees none of it, nor do later ones.
struct Dims {
  int64_t B, T, Hq, Hkv, D, group, ldq, ldk;
  float scale;
  const int32_t* starts;  // [B, T], or nullptr: every document starts at 0
  explicit Dims(const Tensor& q, const Tensor& k, const Tensor& doc_start)
      : B(q.size(0)),
        T(q.size(1)),
        Hq(q.size(2)),
        Hkv(k.size(2)),
        D(q.size(3)),
        group(Hq / Hkv),
        ldq(Hq * D),
        ldk(Hkv * D),
        scale(1.0f / std::sqrt(float(q.size(3)))),
        starts(doc_start.defined() ? doc_start.data<int32_t>() : nullptr) {}
  int64_t start(int64_t b, int64_t t) const { return starts ? starts[b * T + t] : 0; }
  // The first key tile that query tile [i0, ...) of row b sees.
  int64_t first_key_tile(int64_t b, int64_t i0) const { return start(b, i0) / kBlock * kBlock; }
  // Whether query tile [i0, ...) of row b, and every later one, sees nothing of key tile
  // [j0, j0 + nk).
  bool past_keys(int64_t b, int64_t i0, int64_t j0, int64_t nk) const {
    return start(b, i0) >= j0 + nk;
  }
  int64_t q_row(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * Hq + h) * D; }
  int64_t kv_row(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * Hkv + h) * D; }
  int64_t stat(int64_t b, int64_t h, int64_t t) const { return (b * Hq + h) * T + t; }
  int64_t blocks() const { return (T + kBlock - 1) / kBlock; }
  // Multiply-adds of one pass over the causal triangle: waking the threads only pays above
  // a few tens of thousands.
  bool parallel() const { return B * Hq * T * (T + 1) / 2 * D >= 32768; }
};

// ---- tile kernels ---------------------------------------------------------------------

// The part of a tile product on the causal diagonal that matters, as offsets from the row:
// row i of Y adds the terms j in [i + term_lo, i + term_hi) only, the weights of the others
// being exactly 0 (keys after the query), and its columns e outside [i + col_lo, i + col_hi)
// may be left unwritten, the mask discarding them afterwards. Off the diagonal the bounds
// lie outside the tile and nothing is skipped. Leaving out a term whose weight is 0 leaves
// every sum's bits as they were: y + 0 * x is y for finite x (and never turns +0 into -0),
// so a tile's results do not depend on how much of the band a path skips.
struct Band {
  static constexpr int64_t kAll = int64_t(1) << 40;
  int64_t term_lo = -kAll, term_hi = kAll, col_lo = -kAll, col_hi = kAll;
  // Rows are queries, terms (or columns) keys: query i0 + i sees key j0 + j only if j <= i + i0 -
  // j0.
  static Band keys_up_to_query(int64_t i0, int64_t j0) { return {-kAll, i0 - j0 + 1, -kAll, kAll}; }
  static Band key_columns_up_to_query(int64_t i0, int64_t j0) {
    return {-kAll, kAll, -kAll, i0 - j0 + 1};
  }
  // Rows are keys, terms (or columns) queries: key j0 + r is seen by query i0 + c only if
  // c >= r + j0 - i0.
  static Band queries_from_key(int64_t i0, int64_t j0) { return {j0 - i0, kAll, -kAll, kAll}; }
  static Band query_columns_from_key(int64_t i0, int64_t j0) {
    return {-kAll, kAll, j0 - i0, kAll};
  }
  // The terms of rows [i, i + rows) together, clamped to [0, nx).
  int64_t first_term(int64_t i) const { return std::max<int64_t>(0, i + term_lo); }
  int64_t end_term(int64_t i, int64_t rows, int64_t nx) const {
    return std::min<int64_t>(nx, i + rows - 1 + term_hi);
  }
  // Whether columns [e, e + cols) of rows [i, i + 4) are all left out.
  bool skips(int64_t i, int64_t e, int64_t cols) const {
    return e + cols <= i + col_lo || e >= i + 3 + col_hi;
  }
};

// Y += (ws W) X for Y [ny, n] (row stride ldy), X [nx, n] (row stride ldx) and W [ny, nx]
// with element (i, j) at w[i * wr + j * wc] (so W may be read transposed), within `band`;
// each weight is multiplied by ws (and rounded) before it is used. Each row of Y gains a
// combination of X's rows, the innermost loop running along n, which vectorises without
// horizontal sums. Every element of Y adds its terms one at a time in the order of j,
// whichever path computes it, so the paths below agree to the bit.
//
// This path serves the edges: blocks of 4 rows of Y x 4 rows of X share their loads, and Y
// is read and written once per 4 terms. It skips terms, not columns.
[[gnu::always_inline]] inline void matmul_acc_edges(const float* w, int64_t wr, int64_t wc,
                                                    float ws, int64_t ny, int64_t nx,
                                                    const float* x, int64_t ldx, int64_t n,
                                                    float* y, int64_t ldy, const Band& band) {
  int64_t i = 0;
  for (; i + 4 <= ny; i += 4) {
    float *y0 = y + i * ldy, *y1 = y0 + ldy, *y2 = y1 + ldy, *y3 = y2 + ldy;
    const float *w0 = w + i * wr, *w1 = w0 + wr, *w2 = w1 + wr, *w3 = w2 + wr;
    int64_t j = band.first_term(i);
    const int64_t terms = band.end_term(i, 4, nx);
    for (; j + 4 <= terms; j += 4) {
      const float *x0 = x + j * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
      const int64_t c0 = j * wc, c1 = c0 + wc, c2 = c1 + wc, c3 = c2 + wc;
      const float a0 = ws * w0[c0], a1 = ws * w0[c1], a2 = ws * w0[c2], a3 = ws * w0[c3];
      const float b0 = ws * w1[c0], b1 = ws * w1[c1], b2 = ws * w1[c2], b3 = ws * w1[c3];
      const float d0 = ws * w2[c0], d1 = ws * w2[c1], d2 = ws * w2[c2], d3 = ws * w2[c3];
      const float f0 = ws * w3[c0], f1 = ws * w3[c1], f2 = ws * w3[c2], f3 = ws * w3[c3];
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) {
        const float u0 = x0[e], u1 = x1[e], u2 = x2[e], u3 = x3[e];
        float t0 = y0[e], t1 = y1[e], t2 = y2[e], t3 = y3[e];
        t0 += a0 * u0, t1 += b0 * u0, t2 += d0 * u0, t3 += f0 * u0;
        t0 += a1 * u1, t1 += b1 * u1, t2 += d1 * u1, t3 += f1 * u1;
        t0 += a2 * u2, t1 += b2 * u2, t2 += d2 * u2, t3 += f2 * u2;
        t0 += a3 * u3, t1 += b3 * u3, t2 += d3 * u3, t3 += f3 * u3;
        y0[e] = t0, y1[e] = t1, y2[e] = t2, y3[e] = t3;
      }
    }
    for (; j < terms; ++j) {
      const float* x0 = x + j * ldx;
      const float a0 = ws * w0[j * wc], b0 = ws * w1[j * wc], d0 = ws * w2[j * wc],
                  f0 = ws * w3[j * wc];
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) {
        y0[e] += a0 * x0[e];
        y1[e] += b0 * x0[e];
        y2[e] += d0 * x0[e];
        y3[e] += f0 * x0[e];
      }
    }
  }
  for (; i < ny; ++i) {
    float* y0 = y + i * ldy;
    const float* w0 = w + i * wr;
    for (int64_t j = band.first_term(i), terms = band.end_term(i, 1, nx); j < terms; ++j) {
      const float* x0 = x + j * ldx;
      const float a0 = ws * w0[j * wc];
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) y0[e] += a0 * x0[e];
    }
  }
}

// Eight floats, unaligned and aliasing floats (GCC's vector extension: one AVX register in
// the x86-64-v3 clone, two SSE registers in the baseline one).
typedef float f8 __attribute__((vector_size(32), aligned(4), may_alias));

// Rows [i, i + 4) x columns [e, e + 16) of matmul_acc's Y, held in registers over terms
// [first, terms): each term loads two vectors of X and four weights. With kScaled false ws
// is 1 and the weights are used as they are (1 * w is w).
template <bool kScaled>
[[gnu::always_inline]] inline void block_4x16(const float* w, int64_t wr, int64_t wc, float ws,
                                              int64_t first, int64_t terms, const float* x,
                                              int64_t ldx, float* y, int64_t ldy) {
  float *y0 = y, *y1 = y0 + ldy, *y2 = y1 + ldy, *y3 = y2 + ldy;
  const float *w0 = w, *w1 = w0 + wr, *w2 = w1 + wr, *w3 = w2 + wr;
  f8 t0 = *(const f8*)y0, s0 = *(const f8*)(y0 + 8);
  f8 t1 = *(const f8*)y1, s1 = *(const f8*)(y1 + 8);
  f8 t2 = *(const f8*)y2, s2 = *(const f8*)(y2 + 8);
  f8 t3 = *(const f8*)y3, s3 = *(const f8*)(y3 + 8);
  const float* xj = x + first * ldx;
  for (int64_t j = first; j < terms; ++j, xj += ldx) {
    const f8 u = *(const f8*)xj, v = *(const f8*)(xj + 8);
    const int64_t c = j * wc;
    const float a0 = kScaled ? ws * w0[c] : w0[c], a1 = kScaled ? ws * w1[c] : w1[c],
                a2 = kScaled ? ws * w2[c] : w2[c], a3 = kScaled ? ws * w3[c] : w3[c];
    t0 += a0 * u, s0 += a0 * v;
    t1 += a1 * u, s1 += a1 * v;
    t2 += a2 * u, s2 += a2 * v;
    t3 += a3 * u, s3 += a3 * v;
  }
  *(f8*)y0 = t0, *(f8*)(y0 + 8) = s0;
  *(f8*)y1 = t1, *(f8*)(y1 + 8) = s1;
  *(f8*)y2 = t2, *(f8*)(y2 + 8) = s2;
  *(f8*)y3 = t3, *(f8*)(y3 + 8) = s3;
}

// The same sums as matmul_acc_edges, with 4 x 16 blocks of Y held in registers over every
// term (block_4x16), Y read and written once; the edges that do not fill a block go to
// matmul_acc_edges.
//
// One out-of-line instance serves every caller (never inlined and specialised for one call's
// constant sizes), so equal terms give equal sums wherever they are computed.
NEFT_CPU_KERNEL [[gnu::noinline]] void matmul_acc(const float* w, int64_t wr, int64_t wc, float ws,
                                                  int64_t ny, int64_t nx, const float* x,
                                                  int64_t ldx, int64_t n, float* y, int64_t ldy,
                                                  const Band& band = {}) {
  const int64_t my = ny / 4 * 4, mn = n / 16 * 16;
  for (int64_t i = 0; i < my; i += 4) {
    const int64_t first = band.first_term(i), terms = band.end_term(i, 4, nx);
    for (int64_t e = 0; e < mn; e += 16) {
      if (band.skips(i, e, 16)) continue;
      if (ws == 1.0f)
        block_4x16<false>(w + i * wr, wr, wc, ws, first, terms, x + e, ldx, y + i * ldy + e, ldy);
      else
        block_4x16<true>(w + i * wr, wr, wc, ws, first, terms, x + e, ldx, y + i * ldy + e, ldy);
    }
  }
  // The columns past the last block of 16, and the rows past the last block of 4.
  if (mn < n) matmul_acc_edges(w, wr, wc, ws, my, nx, x + mn, ldx, n - mn, y + mn, ldy, band);
  if (my < ny) {
    Band rest = band;  // the same band, counted from row my
    rest.term_lo += my, rest.term_hi += my, rest.col_lo += my, rest.col_hi += my;
    matmul_acc_edges(w + my * wr, wr, wc, ws, ny - my, nx, x, ldx, n, y + my * ldy, ldy, rest);
  }
}

// xt [n, m] (row stride kBlock) = xs times the transpose of x [m, n] (row stride ldx),
// m <= kBlock.
[[gnu::always_inline]] inline void transpose(const float* x, int64_t ldx, int64_t m, int64_t n,
                                             float xs, float* xt) {
  for (int64_t j = 0; j < m; ++j)
    for (int64_t e = 0; e < n; ++e) xt[e * kBlock + j] = xs * x[j * ldx + e];
}

// c [na, nb] (row stride kBlock) = (as A) Bt for A [na, n] (row stride lda) and Bt [n, nb]
// (row stride kBlock), a tile transposed once by its task.
//
// Scores are scale * q . k, always as the products (scale * q[e]) * k[e] summed in the order
// of e (q scaled as it is transposed, or as a weight of matmul_acc): the forward and both
// backward passes then agree to the bit, and a query with a single key gets exactly p = 1.
// Entries outside `band`'s columns may be left 0.
[[gnu::always_inline]] inline void product(const float* a, int64_t lda, float as, int64_t na,
                                           const float* bt, int64_t nb, int64_t n, float* c,
                                           const Band& band) {
  for (int64_t i = 0; i < na; ++i) std::fill_n(c + i * kBlock, nb, 0.0f);
  matmul_acc(a, lda, 1, as, na, n, bt, kBlock, nb, c, kBlock, band);
}

// For a tile of queries [i0, i0 + nq) x keys [j0, j0 + nk) of row b: s holds the scores and
// dp holds dO V^T; they become P = exp(S - lse) and dS = P * (dP - delta), 0 where the key is
// after the query or before its document.
[[gnu::always_inline]] inline void probabilities(const Dims& d, float* s, float* dp,
                                                 const float* lse, const float* delta, int64_t b,
                                                 int64_t i0, int64_t j0, int64_t nq, int64_t nk) {
  for (int64_t i = 0; i < nq; ++i) {
    // Keys j0 + j with lo <= j < hi are in query i0 + i's document and not after it.
    const int64_t hi = std::clamp<int64_t>(i0 + i - j0 + 1, 0, nk);
    const int64_t lo = std::clamp<int64_t>(d.start(b, i0 + i) - j0, 0, hi);
    float *si = s + i * kBlock, *dpi = dp + i * kBlock;
    const float lr = lse[i], dr = delta[i];
#pragma omp simd
    for (int64_t j = lo; j < hi; ++j) {
      const float p = cpu::exp_approx(si[j] - lr);
      si[j] = p;
      dpi[j] = p * (dpi[j] - dr);
    }
    std::fill_n(si, lo, 0.0f);
    std::fill_n(dpi, lo, 0.0f);
    std::fill_n(si + hi, nk - hi, 0.0f);
    std::fill_n(dpi + hi, nk - hi, 0.0f);
  }
}

// For a tile of keys [j0, j0 + nk) x queries [i0, i0 + nq) of row b, the queries that see
// key j0 + j are [first[j], last[j]) (empty when last <= first): causal from below, the
// document from above.
[[gnu::always_inline]] inline void query_ranges(const Dims& d, int64_t b, int64_t i0, int64_t nq,
                                                int64_t j0, int64_t nk, int64_t* first,
                                                int64_t* last) {
  int64_t n = 0;  // queries of the tile whose document starts at or before the key
  for (int64_t j = 0; j < nk; ++j) {
    while (n < nq && d.start(b, i0 + n) <= j0 + j) ++n;
    first[j] = std::clamp<int64_t>(j0 + j - i0, 0, nq);
    last[j] = std::max(first[j], n);
  }
}

// ---- tasks -------------------------------------------------------------------------------

// Per-thread buffers of a task, one uninitialised allocation (every task writes before it
// reads): score tiles s and p, transposed tiles t1 and t2, row accumulators acc..acc4 and
// per-row statistics.
struct Scratch {
  std::unique_ptr<float[]> buf;
  float *s, *p, *t1, *t2, *acc, *acc2, *acc3, *acc4, *m, *l, *mt, *alpha;
  explicit Scratch(int64_t d) : buf(new float[size_t(kBlock * (2 * kBlock + 6 * d + 4))]) {
    float* q = buf.get();
    for (float** x : {&s, &p}) *x = q, q += kBlock * kBlock;
    for (float** x : {&t1, &t2, &acc, &acc2, &acc3, &acc4}) *x = q, q += kBlock * d;
    for (float** x : {&m, &l, &mt, &alpha}) *x = q, q += kBlock;
  }
};

// Query rows [i0, i0 + nq) of head h: an online softmax over key tiles (running max m,
// running sum l, output rescaled when the max grows), then out = acc / l. Scores are
// computed transposed, S^T = K Q^T (rows are keys), so that q is transposed once per task
// and the softmax statistics are vectors over the queries.
NEFT_CPU_KERNEL void forward_block(const Dims& d, const float* pq, const float* pk, const float* pv,
                                   float* po, float* pl, int64_t b, int64_t h, int64_t i0,
                                   Scratch& w) {
  const int64_t nq = std::min(kBlock, d.T - i0), D = d.D, g = h / d.group;
  float *st = w.s, *qt = w.t1, *acc = w.acc, *m = w.m, *l = w.l, *mt = w.mt, *alpha = w.alpha;
  transpose(pq + d.q_row(b, i0, h), d.ldq, nq, D, d.scale, qt);
  int64_t first[kBlock], last[kBlock];
  std::fill_n(acc, nq * D, 0.0f);
  std::fill_n(m, nq, kNegInf);
  std::fill_n(l, nq, 0.0f);
  for (int64_t j0 = d.first_key_tile(b, i0); j0 < i0 + nq; j0 += kBlock) {
    const int64_t nk = std::min(kBlock, i0 + nq - j0);
    const float *k = pk + d.kv_row(b, j0, g), *v = pv + d.kv_row(b, j0, g);
    product(k, d.ldk, 1.0f, nk, qt, nq, D, st, Band::query_columns_from_key(i0, j0));
    query_ranges(d, b, i0, nq, j0, nk, first, last);
    std::copy_n(m, nq, mt);
    for (int64_t j = 0; j < nk; ++j) {
      float* sj = st + j * kBlock;
#pragma omp simd
      for (int64_t i = first[j]; i < last[j]; ++i) mt[i] = sj[i] > mt[i] ? sj[i] : mt[i];
    }
    // alpha rescales what was summed against the old max: 0 before the first key, also
    // while a query has seen no key of its document yet (its max is still -inf, and the
    // floor keeps -inf - -inf out).
#pragma omp simd
    for (int64_t i = 0; i < nq; ++i) {
      alpha[i] = cpu::exp_approx(m[i] - std::max(mt[i], std::numeric_limits<float>::lowest()));
      l[i] *= alpha[i];
      m[i] = mt[i];
    }
    for (int64_t j = 0; j < nk; ++j) {
      float* sj = st + j * kBlock;
      const int64_t f = first[j], e = last[j];
      std::fill_n(sj, f, 0.0f);
      std::fill_n(sj + e, nq - e, 0.0f);
#pragma omp simd
      for (int64_t i = f; i < e; ++i) {
        sj[i] = cpu::exp_approx(sj[i] - m[i]);
        l[i] += sj[i];
      }
    }
    for (int64_t i = 0; i < nq; ++i) {
      float* ai = acc + i * D;
      const float a = alpha[i];
#pragma omp simd
      for (int64_t e = 0; e < D; ++e) ai[e] *= a;
    }
    // acc += P V with P read from P^T.
    matmul_acc(st, 1, kBlock, 1.0f, nq, nk, v, d.ldk, D, acc, D, Band::keys_up_to_query(i0, j0));
  }
  for (int64_t r = 0; r < nq; ++r) {
    float* o = po + d.q_row(b, i0 + r, h);
    const float* ar = acc + r * D;
    const float inv = 1.0f / l[r];
#pragma omp simd
    for (int64_t e = 0; e < D; ++e) o[e] = ar[e] * inv;
    pl[d.stat(b, h, i0 + r)] = m[r] + std::log(l[r]);
  }
}

// delta[r] = dO_r . O_r for the query rows of (b, h) in [i0, i0 + n), n <= kBlock, summed in
// the same order as the entries of dP = dO V^T (matmul_acc: one product at a time in the
// order of e, each added as it comes): where O_r is exactly V_j (a single key), dP - delta is
// then exactly 0, as is the gradient it scales. The rows are transposed first so that the
// loop runs across rows, each row's sum a chain of its own.
NEFT_CPU_KERNEL void delta_rows(const Dims& d, const float* pdo, const float* po, float* delta,
                                int64_t b, int64_t h, int64_t i0, int64_t n, Scratch& w) {
  float *dot = w.t1, *ot = w.t2, *sum = w.m;
  transpose(pdo + d.q_row(b, i0, h), d.ldq, n, d.D, 1.0f, dot);
  transpose(po + d.q_row(b, i0, h), d.ldq, n, d.D, 1.0f, ot);
  std::fill_n(sum, n, 0.0f);
  for (int64_t e = 0; e < d.D; ++e) {
    const float *a = dot + e * kBlock, *u = ot + e * kBlock;
#pragma omp simd
    for (int64_t r = 0; r < n; ++r) sum[r] += a[r] * u[r];
  }
  std::copy_n(sum, n, delta + d.stat(b, h, i0));
}

// With P = exp(scale S - lse), dP = dO V^T and dS = P * (dP - delta):
//   dQ = scale dS K,  dK = scale dS^T Q,  dV = P^T dO.
// dQ for query rows [i0, i0 + nq) of head h, over the key tiles left of the diagonal (from
// the tile of the first query's document), with S^T and dP^T (rows are keys) as in the
// forward.
NEFT_CPU_KERNEL void dq_block(const Dims& d, const float* pdo, const float* pq, const float* pk,
                              const float* pv, const float* pl, const float* delta, float* pdq,
                              int64_t b, int64_t h, int64_t i0, Scratch& w) {
  const int64_t nq = std::min(kBlock, d.T - i0), D = d.D, g = h / d.group;
  const float *lse = pl + d.stat(b, h, i0), *dl = delta + d.stat(b, h, i0);
  float *st = w.s, *dpt = w.p, *qt = w.t1, *dot = w.t2, *acc = w.acc;
  transpose(pq + d.q_row(b, i0, h), d.ldq, nq, D, d.scale, qt);
  transpose(pdo + d.q_row(b, i0, h), d.ldq, nq, D, 1.0f, dot);
  int64_t first[kBlock], last[kBlock];
  std::fill_n(acc, nq * D, 0.0f);
  for (int64_t j0 = d.first_key_tile(b, i0); j0 < i0 + nq; j0 += kBlock) {
    const int64_t nk = std::min(kBlock, i0 + nq - j0);
    const float *k = pk + d.kv_row(b, j0, g), *v = pv + d.kv_row(b, j0, g);
    product(k, d.ldk, 1.0f, nk, qt, nq, D, st, Band::query_columns_from_key(i0, j0));
    product(v, d.ldk, 1.0f, nk, dot, nq, D, dpt, Band::query_columns_from_key(i0, j0));
    query_ranges(d, b, i0, nq, j0, nk, first, last);
    for (int64_t j = 0; j < nk; ++j) {
      float *sj = st + j * kBlock, *dpj = dpt + j * kBlock;
      const int64_t f = first[j], e = last[j];
      std::fill_n(sj, f, 0.0f);
      std::fill_n(sj + e, nq - e, 0.0f);
      // dS^T overwrites S^T.
#pragma omp simd
      for (int64_t i = f; i < e; ++i) sj[i] = cpu::exp_approx(sj[i] - lse[i]) * (dpj[i] - dl[i]);
    }
    matmul_acc(st, 1, kBlock, 1.0f, nq, nk, k, d.ldk, D, acc, D, Band::keys_up_to_query(i0, j0));
  }
  for (int64_t r = 0; r < nq; ++r) {
    float* o = pdq + d.q_row(b, i0 + r, h);
    const float* ar = acc + r * D;
#pragma omp simd
    for (int64_t e = 0; e < D; ++e) o[e] = ar[e] * d.scale;
  }
}

// dK and dV for key rows [j0, j0 + nk) of kv head g, over every query head of the group and
// the query tiles right of the diagonal; k and v are transposed once per task.
NEFT_CPU_KERNEL void dkv_block(const Dims& d, const float* pdo, const float* pq, const float* pk,
                               const float* pv, const float* pl, const float* delta, float* pdk,
                               float* pdv, int64_t b, int64_t g, int64_t j0, Scratch& w) {
  const int64_t nk = std::min(kBlock, d.T - j0), D = d.D;
  float *s = w.s, *dp = w.p, *kt = w.t1, *vt = w.t2, *dk = w.acc, *dv = w.acc2, *dk_sum = w.acc3,
        *dv_sum = w.acc4;
  transpose(pk + d.kv_row(b, j0, g), d.ldk, nk, D, 1.0f, kt);
  transpose(pv + d.kv_row(b, j0, g), d.ldk, nk, D, 1.0f, vt);
  std::fill_n(dk_sum, nk * D, 0.0f);
  std::fill_n(dv_sum, nk * D, 0.0f);
  for (int64_t h = g * d.group; h < (g + 1) * d.group; ++h) {
    // Each head's sums on their own, then added in head order: the same association as
    // head_backward's partials and sum_group, so both schedules give the same bits.
    std::fill_n(dk, nk * D, 0.0f);
    std::fill_n(dv, nk * D, 0.0f);
    for (int64_t i0 = j0 / kBlock * kBlock; i0 < d.T; i0 += kBlock) {
      if (d.past_keys(b, i0, j0, nk)) break;
      const int64_t nq = std::min(kBlock, d.T - i0);
      const float *q = pq + d.q_row(b, i0, h), *dout = pdo + d.q_row(b, i0, h);
      const float *lse = pl + d.stat(b, h, i0), *dl = delta + d.stat(b, h, i0);
      product(q, d.ldq, d.scale, nq, kt, nk, D, s, Band::key_columns_up_to_query(i0, j0));
      product(dout, d.ldq, 1.0f, nq, vt, nk, D, dp, Band::key_columns_up_to_query(i0, j0));
      probabilities(d, s, dp, lse, dl, b, i0, j0, nq, nk);
      // dV += P^T dO and dK += dS^T Q, reading P and dS transposed.
      matmul_acc(s, 1, kBlock, 1.0f, nk, nq, dout, d.ldq, D, dv, D, Band::queries_from_key(i0, j0));
      matmul_acc(dp, 1, kBlock, 1.0f, nk, nq, q, d.ldq, D, dk, D, Band::queries_from_key(i0, j0));
    }
#pragma omp simd
    for (int64_t e = 0; e < nk * D; ++e) {
      dk_sum[e] += dk[e];
      dv_sum[e] += dv[e];
    }
  }
  for (int64_t r = 0; r < nk; ++r) {
    float *ok = pdk + d.kv_row(b, j0 + r, g), *ov = pdv + d.kv_row(b, j0 + r, g);
    const float *kr = dk_sum + r * D, *vr = dv_sum + r * D;
#pragma omp simd
    for (int64_t e = 0; e < D; ++e) {
      ok[e] = kr[e] * d.scale;
      ov[e] = vr[e];
    }
  }
}

// The whole backward of head h in one pass (five tile products rather than the seven of
// dq_block + dkv_block): for each key block, its dK and dV over the query tiles at or right
// of the diagonal, while those tiles' dQ rows gain dS K, key block by key block in order.
// dK/dV go to rows kd + j * ld, vd + j * ld (dk scaled; the partial sums of one query head
// when heads share a kv head); dQ is accumulated in place and scaled at the end.
NEFT_CPU_KERNEL void head_backward(const Dims& d, const float* pdo, const float* pq,
                                   const float* pk, const float* pv, const float* pl,
                                   const float* delta, float* pdq, float* kd, float* vd, int64_t ld,
                                   float dk_scale, int64_t b, int64_t h, Scratch& w) {
  const int64_t D = d.D, g = h / d.group;
  float *s = w.s, *dp = w.p, *kt = w.t1, *vt = w.t2, *dk = w.acc, *dv = w.acc2;
  for (int64_t i = 0; i < d.T; ++i) std::fill_n(pdq + d.q_row(b, i, h), D, 0.0f);
  for (int64_t j0 = 0; j0 < d.T; j0 += kBlock) {
    const int64_t nk = std::min(kBlock, d.T - j0);
    const float *k = pk + d.kv_row(b, j0, g), *v = pv + d.kv_row(b, j0, g);
    transpose(k, d.ldk, nk, D, 1.0f, kt);
    transpose(v, d.ldk, nk, D, 1.0f, vt);
    std::fill_n(dk, nk * D, 0.0f);
    std::fill_n(dv, nk * D, 0.0f);
    for (int64_t i0 = j0; i0 < d.T; i0 += kBlock) {
      // The tiles dq_block visits for query tile i0, so both schedules add the same terms.
      if (d.past_keys(b, i0, j0, nk)) break;
      const int64_t nq = std::min(kBlock, d.T - i0);
      const float *q = pq + d.q_row(b, i0, h), *dout = pdo + d.q_row(b, i0, h);
      const float *lse = pl + d.stat(b, h, i0), *dl = delta + d.stat(b, h, i0);
      product(q, d.ldq, d.scale, nq, kt, nk, D, s, Band::key_columns_up_to_query(i0, j0));
      product(dout, d.ldq, 1.0f, nq, vt, nk, D, dp, Band::key_columns_up_to_query(i0, j0));
      probabilities(d, s, dp, lse, dl, b, i0, j0, nq, nk);
      matmul_acc(s, 1, kBlock, 1.0f, nk, nq, dout, d.ldq, D, dv, D, Band::queries_from_key(i0, j0));
      matmul_acc(dp, 1, kBlock, 1.0f, nk, nq, q, d.ldq, D, dk, D, Band::queries_from_key(i0, j0));
      matmul_acc(dp, kBlock, 1, 1.0f, nq, nk, k, d.ldk, D, pdq + d.q_row(b, i0, h), d.ldq,
                 Band::keys_up_to_query(i0, j0));
    }
    for (int64_t r = 0; r < nk; ++r) {
      float *ok = kd + (j0 + r) * ld, *ov = vd + (j0 + r) * ld;
      const float *kr = dk + r * D, *vr = dv + r * D;
#pragma omp simd
      for (int64_t e = 0; e < D; ++e) {
        ok[e] = kr[e] * dk_scale;
        ov[e] = vr[e];
      }
    }
  }
  for (int64_t i = 0; i < d.T; ++i) {
    float* o = pdq + d.q_row(b, i, h);
#pragma omp simd
    for (int64_t e = 0; e < D; ++e) o[e] *= d.scale;
  }
}

// dk[b, t, g] = scale * (the sum of its group's partials, in head order), likewise dv.
NEFT_CPU_KERNEL void sum_group(const Dims& d, const float* kpart, const float* vpart, float* pdk,
                               float* pdv, int64_t b, int64_t t, int64_t g) {
  float *ok = pdk + d.kv_row(b, t, g), *ov = pdv + d.kv_row(b, t, g);
  for (int64_t e = 0; e < d.D; ++e) ok[e] = ov[e] = 0.0f;
  for (int64_t h = g * d.group; h < (g + 1) * d.group; ++h) {
    const int64_t row = ((b * d.Hq + h) * d.T + t) * d.D;
    const float *kp = kpart + row, *vp = vpart + row;
#pragma omp simd
    for (int64_t e = 0; e < d.D; ++e) {
      ok[e] += kp[e];
      ov[e] += vp[e];
    }
  }
#pragma omp simd
  for (int64_t e = 0; e < d.D; ++e) ok[e] *= d.scale;
}

// buf grown to at least n elements; its data.
float* reserve(std::vector<float>& buf, int64_t n) {
  if (buf.size() < size_t(n)) buf.resize(size_t(n));
  return buf.data();
}

}  // namespace

// Tasks are blocks of query rows, handed out dynamically (a causal block's cost grows with
// its position), the costliest first.
template <>
void attention_forward<Device::CPU>(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                                    Tensor& lse, const Tensor& doc_start) {
  const Dims d(q, k, doc_start);
  const float *pq = q.data<float>(), *pk = k.data<float>(), *pv = v.data<float>();
  float *po = out.data<float>(), *pl = lse.data<float>();
  const int64_t nb = d.blocks(), tasks = d.B * d.Hq * nb;
#pragma omp parallel if (d.parallel())
  {
    Scratch w(d.D);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t blk = nb - 1 - t / (d.B * d.Hq), bh = t % (d.B * d.Hq);
      forward_block(d, pq, pk, pv, po, pl, bh / d.Hq, bh % d.Hq, blk * kBlock, w);
    }
  }
}

// Two schedules, both with one writer per output row and fixed summation orders:
//   - one task per (batch, query head), head_backward: the fewest products; with grouped
//     heads each task writes its own partial dK/dV, summed per kv head afterwards;
//   - with fewer (batch, head) pairs than threads, tasks per block of query rows for dQ
//     (dq_block) and per block of key rows for dK/dV over the group (dkv_block), which
//     recompute the probabilities in both passes but keep every thread busy.
// Both add every sum in the same order, so the result does not depend on which one the
// thread count picks.
template <>
void attention_backward<Device::CPU>(const Tensor& dout, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const Tensor& out, const Tensor& lse,
                                     Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& doc_start) {
  const Dims d(q, k, doc_start);
  const float *pdo = dout.data<float>(), *pq = q.data<float>(), *pk = k.data<float>(),
              *pv = v.data<float>(), *po = out.data<float>(), *pl = lse.data<float>();
  float *pdq = dq.data<float>(), *pdk = dk.data<float>(), *pdv = dv.data<float>();
  const int64_t nb = d.blocks(), heads = d.B * d.Hq, q_tasks = heads * nb,
                kv_tasks = d.B * d.Hkv * nb;
  const bool parallel = d.parallel();
  const bool per_head = !parallel || heads >= omp_get_max_threads();
  // rowsum(dO * O), indexed like lse, and per-head partial dK, dV [B, Hq, T, D] when heads
  // share kv heads. Every element is written before it is read. The partials are megabytes:
  // kept from call to call (per calling thread), as fresh pages from the system on every
  // layer's backward cost more than the sums that fill them.
  thread_local std::vector<float> delta_buf, kpart_buf, vpart_buf;
  float* delta = reserve(delta_buf, heads * d.T);
  float *kpart = nullptr, *vpart = nullptr;
  if (per_head && d.group > 1) {
    kpart = reserve(kpart_buf, heads * d.T * d.D);
    vpart = reserve(vpart_buf, heads * d.T * d.D);
  }
#pragma omp parallel if (parallel)
  {
    Scratch w(d.D);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < q_tasks; ++t) {
      const int64_t blk = t % nb, bh = t / nb, i0 = blk * kBlock;
      delta_rows(d, pdo, po, delta, bh / d.Hq, bh % d.Hq, i0, std::min(kBlock, d.T - i0), w);
    }

    if (per_head) {
#pragma omp for schedule(dynamic, 1)
      for (int64_t bh = 0; bh < heads; ++bh) {
        const int64_t b = bh / d.Hq, h = bh % d.Hq, g = h / d.group;
        if (d.group > 1)
          head_backward(d, pdo, pq, pk, pv, pl, delta, pdq, kpart + bh * d.T * d.D,
                        vpart + bh * d.T * d.D, d.D, 1.0f, b, h, w);
        else
          head_backward(d, pdo, pq, pk, pv, pl, delta, pdq, pdk + d.kv_row(b, 0, g),
                        pdv + d.kv_row(b, 0, g), d.ldk, d.scale, b, h, w);
      }
      if (d.group > 1) {
#pragma omp for schedule(static)
        for (int64_t r = 0; r < d.B * d.T * d.Hkv; ++r)
          sum_group(d, kpart, vpart, pdk, pdv, r / (d.T * d.Hkv), r / d.Hkv % d.T, r % d.Hkv);
      }
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < q_tasks; ++t) {
        const int64_t blk = nb - 1 - t / heads, bh = t % heads;
        dq_block(d, pdo, pq, pk, pv, pl, delta, pdq, bh / d.Hq, bh % d.Hq, blk * kBlock, w);
      }
      // Key blocks near the start see the most queries: costliest first.
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < kv_tasks; ++t) {
        const int64_t blk = t / (d.B * d.Hkv), bg = t % (d.B * d.Hkv);
        dkv_block(d, pdo, pq, pk, pv, pl, delta, pdk, pdv, bg / d.Hkv, bg % d.Hkv, blk * kBlock, w);
      }
    }
  }
}

}  // namespace neft::ops
