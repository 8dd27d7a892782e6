// Tests of the CUDA backend (qnn/cuda.h) against the CPU core.
//
// One test, cuda_backend, decides what can be checked here:
// * backend not compiled (QNN_CUDA=OFF or no nvcc; stub.cc): prints "[SKIP-CUDA] ... not compiled"
//   and checks that info() says so and every call throws QNN_E_CUDA_UNAVAILABLE;
// * compiled but no usable device: prints "[SKIP-CUDA] no CUDA device: <reason>" and checks the
//   same contract plus the host-side memory estimates (the parity checks do NOT run);
// * device available: parity with the CPU core (Gram dense + conv, im2col, GPFQ direct + gram in
//   float64 exactly and float32 >= 99.9 %, error outputs) and the error contracts on a device.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "qnn/alphabet.h"
#include "qnn/cuda.h"
#include "qnn/gpfq.h"
#include "qnn/gram.h"
#include "qnn/im2col.h"
#include "fixtures.h"
#include "qtest.h"

using qnn::index_t;
namespace qc = qnn::cuda;

namespace {

// ---- problems (same generator and seeds as test_gpfq.cc) ---------------------------------------

using qtest::make_problem;
using qtest::Problem;

struct Run {
  std::vector<std::int32_t> codes;
  std::vector<float> q;
  std::vector<double> err, rel;
  explicit Run(const Problem& p)
      : codes(p.n0 * p.n1, -7), q(p.n0 * p.n1, -7.0f), err(p.n1, -1.0), rel(p.n1, -1.0) {}
  qnn::GpfqOutput out() { return {codes.data(), q.data(), err.data(), rel.data()}; }
};

template <typename T>
struct Grams {
  std::vector<T> G, H, K;
};

template <typename T>
Grams<T> cpu_grams(const Problem& p, bool distinct) {
  const index_t d = p.n0;
  Grams<T> r{std::vector<T>(d * d, 0), std::vector<T>(d * d, 0), std::vector<T>(d * d, 0)};
  qnn::gram_accumulate<T>(distinct ? r.G.data() : nullptr, r.H.data(), distinct ? r.K.data() : nullptr, d, p.x.data(),
                          distinct ? p.xq.data() : nullptr, p.m, d, 2);
  return r;
}

template <typename T>
Run cpu_direct(const Problem& p, const qnn::GpfqOptions& opt, bool distinct) {
  Run r(p);
  qnn::gpfq_direct<T>(p.w.data(), p.n0, p.n1, p.x.data(), distinct ? p.xq.data() : nullptr, p.m, p.levels.data(),
                      static_cast<int>(p.levels.size()), opt, r.out());
  return r;
}

template <typename T>
Run cuda_direct(const Problem& p, const qnn::GpfqOptions& opt, bool distinct) {
  Run r(p);
  qc::gpfq_direct<T>(p.w.data(), p.n0, p.n1, p.x.data(), distinct ? p.xq.data() : nullptr, p.m, p.levels.data(),
                     static_cast<int>(p.levels.size()), opt, r.out());
  return r;
}

template <typename T>
Run cpu_gram(const Problem& p, Grams<T> g, const qnn::GpfqOptions& opt, bool distinct) {  // copy: CPU mirrors H, K
  Run r(p);
  qnn::gpfq_gram<T>(p.w.data(), p.n0, p.n1, g.G.data(), g.H.data(), g.K.data(), !distinct, p.levels.data(),
                    static_cast<int>(p.levels.size()), opt, r.out());
  return r;
}

template <typename T>
Run cuda_gram(const Problem& p, const Grams<T>& g, const qnn::GpfqOptions& opt, bool distinct) {
  Run r(p);
  qc::gpfq_gram<T>(p.w.data(), p.n0, p.n1, g.G.data(), g.H.data(), g.K.data(), !distinct, p.levels.data(),
                   static_cast<int>(p.levels.size()), opt, r.out());
  return r;
}

index_t mismatches(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  index_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

// Codes, q (exactly) and err / rel (relative tolerance) of two runs.
void expect_same_run(const Run& a, const Run& b, double err_tol, const char* what) {
  const index_t bad = mismatches(a.codes, b.codes);
  QCHECK(bad == 0);
  index_t qbad = 0;
  for (std::size_t i = 0; i < a.q.size(); ++i) qbad += a.q[i] != b.q[i];
  QCHECK(qbad == 0);
  for (std::size_t j = 0; j < a.err.size(); ++j) {
    QCHECK_NEAR(a.err[j], b.err[j], err_tol * (1 + std::fabs(b.err[j])));
    QCHECK_NEAR(a.rel[j], b.rel[j], err_tol * (1 + std::fabs(b.rel[j])));
  }
  if (bad || qbad) std::printf("    %s: %lld code / %lld q mismatches\n", what, (long long)bad, (long long)qbad);
}

// ---- the unavailable contract ------------------------------------------------------------------

void expect_calls_unavailable() {
  Problem p = make_problem(20, 6, 3, 1, true, {});
  qnn::GpfqOptions opt;
  std::vector<std::int32_t> codes(p.n0 * p.n1);
  std::vector<float> q(p.n0 * p.n1);
  qnn::GpfqOutput out{codes.data(), q.data(), nullptr, nullptr};
  const int nl = static_cast<int>(p.levels.size());
  const char* code = qnn::code::kCudaUnavailable;
  QCHECK_THROWS_CODE(qc::make_gram_accumulator(p.n0, 1, false, false, true), code);
  QCHECK_THROWS_CODE(qc::make_gram_accumulator(p.n0, 1, true, true, false), code);
  QCHECK_THROWS_CODE(qc::gpfq_direct<float>(p.w.data(), p.n0, p.n1, p.x.data(), p.xq.data(), p.m, p.levels.data(), nl, opt, out), code);
  QCHECK_THROWS_CODE(qc::gpfq_direct<double>(p.w.data(), p.n0, p.n1, p.x.data(), nullptr, p.m, p.levels.data(), nl, opt, out), code);
  Grams<float> gf = cpu_grams<float>(p, true);
  Grams<double> gd = cpu_grams<double>(p, true);
  QCHECK_THROWS_CODE(qc::gpfq_gram<float>(p.w.data(), p.n0, p.n1, gf.G.data(), gf.H.data(), gf.K.data(), false, p.levels.data(), nl, opt, out), code);
  QCHECK_THROWS_CODE(qc::gpfq_gram<double>(p.w.data(), p.n0, p.n1, gd.G.data(), gd.H.data(), nullptr, false, p.levels.data(), nl, opt, out), code);
  qnn::ConvSpec s;
  s.n = 1; s.h = 4; s.w = 4; s.c = 2; s.kh = 3; s.kw = 3; s.same = true;
  std::vector<float> x(32, 1.0f), dst(16 * 18);
  QCHECK_THROWS_CODE(qc::im2col_rows(s, x.data(), 0, 16, dst.data()), code);
}

void expect_estimates_consistent() {
  // The Gram estimate is the accumulator's layout: K is one more 256-byte-aligned groups x d x d.
  const std::size_t with_k = qc::estimate_gram_bytes(100, 2, true, false, true, 4096);
  const std::size_t without_k = qc::estimate_gram_bytes(100, 2, true, false, false, 4096);
  QCHECK(with_k - without_k == (2 * 100 * 100 * 8 + 255) / 256 * 256);
  QCHECK(with_k >= 3u * 2 * 100 * 100 * 8 + 2u * 4096 * 200 * 4);
  QCHECK(qc::estimate_gram_bytes(100, 2, false, false, true, 4096) < with_k);
  QCHECK(qc::estimate_gram_bytes(100, 2, true, true, true, 4096) < without_k);
  // Direct form: X, Xq (float) and U (T) grow with m.
  const std::size_t d1 = qc::estimate_gpfq_direct_bytes(60, 25, 1000, true, true, 32);
  const std::size_t d2 = qc::estimate_gpfq_direct_bytes(60, 25, 2000, true, true, 32);
  QCHECK(d2 > d1 && d2 - d1 >= 1000u * (60 * 4 * 2 + 25 * 8));
  QCHECK(qc::estimate_gpfq_direct_bytes(60, 25, 1000, true, false, 32) < d1);
  // Gram form: independent of m, holds G, H, K (n0 x n0) in double.
  QCHECK(qc::estimate_gpfq_gram_bytes(300, 40, true, false, true, 128) >= 3u * 300 * 300 * 8);
  QCHECK(qc::estimate_gpfq_gram_bytes(300, 40, false, false, true, 128) <
         qc::estimate_gpfq_gram_bytes(300, 40, true, false, true, 128));
  // Absurd shapes saturate (a finite, huge number) instead of overflowing.
  QCHECK(qc::estimate_gram_bytes(index_t{1} << 31, 1 << 20, true, false, true, 4096) >= (std::size_t{1} << 60));
}

// ---- parity: Gram accumulation -----------------------------------------------------------------

std::vector<float> rand_floats(std::size_t n, unsigned seed, bool integer) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::uniform_int_distribution<int> k(-3, 3);
  std::vector<float> v(n);
  for (auto& x : v) x = integer ? static_cast<float>(k(g)) : u(g);
  return v;
}

// |a| vs |b| with tolerance tol * scale[i] (scale = the Gram of |x|, bounding the rounding error).
template <typename T>
double worst_scaled(const std::vector<T>& a, const std::vector<T>& b, const std::vector<double>& scale) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])) / (scale[i] + 1e-30));
  return worst;
}

template <typename T>
void expect_lower_equal_and_mirrored(const std::vector<T>& gpu, const std::vector<T>& cpu, index_t d, int groups,
                                     double tol, const std::vector<double>* scale, const char* what) {
  double worst = 0;
  index_t asym = 0;
  for (int g = 0; g < groups; ++g)
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j <= i; ++j) {
        const index_t o = (g * d + i) * d + j;
        const double diff = std::fabs(static_cast<double>(gpu[o]) - static_cast<double>(cpu[o]));
        worst = std::max(worst, scale ? diff / ((*scale)[o] + 1e-30) : diff);
        asym += gpu[o] != gpu[(g * d + j) * d + i];
      }
  QCHECK(worst <= tol);
  QCHECK(asym == 0);
  if (worst > tol || asym) std::printf("    %s: worst %.3g (tol %.3g), %lld asymmetric\n", what, worst, tol, (long long)asym);
}

// d = 70: the general GEMM kernel (d % 4 != 0); d = 72: the fast float kernel with split K;
// d = 1028: the fast kernel's three-product launch, edge tiles and the diagonal mask.
template <typename T>
void gram_dense_parity(bool integer, bool same, index_t d = 70, index_t rows1 = 5000, index_t rows2 = 4000) {
  const index_t rows = rows1 + rows2;
  std::vector<float> x = rand_floats(rows * d, 3, integer), xq = rand_floats(rows * d, 4, integer);
  std::vector<T> G(d * d, 0), H(d * d, 0), K(d * d, 0);
  const float* xqp = same ? nullptr : xq.data();
  qnn::gram_accumulate<T>(same ? nullptr : G.data(), H.data(), same ? nullptr : K.data(), d, x.data(), xqp, rows, d, 2);
  auto acc = qc::make_gram_accumulator(d, 1, sizeof(T) == 8, same, true);
  QCHECK(acc->device_bytes() == qc::estimate_gram_bytes(d, 1, sizeof(T) == 8, same, true, 4096));
  acc->add(x.data(), xqp, rows1);
  acc->add(x.data() + rows1 * d, same ? nullptr : xq.data() + rows1 * d, rows2);
  std::vector<T> g(d * d, -1), h(d * d, -1), k(d * d, -1);
  acc->download(same ? nullptr : g.data(), h.data(), same ? nullptr : k.data());
  // Rounding bound: |error| <= tol * sum |a||b| (scale), tol ~ K eps for fp32 / fp64 sums.
  std::vector<double> sg(d * d, 0), sh(d * d, 0), sk(d * d, 0);
  for (index_t r = 0; r < (integer ? 0 : rows); ++r)
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j) {
        const double a = std::fabs(x[r * d + i]), b = std::fabs(x[r * d + j]);
        const double aq = std::fabs(xq[r * d + i]), bq = std::fabs(xq[r * d + j]);
        sg[i * d + j] += aq * b;
        sh[i * d + j] += same ? a * b : aq * bq;
        sk[i * d + j] += a * b;
      }
  const double tol = integer ? 0.0 : (sizeof(T) == 8 ? 1e-12 : 2e-5);
  const char* name = sizeof(T) == 8 ? (integer ? "dense f64 exact" : "dense f64") : (integer ? "dense f32 exact" : "dense f32");
  expect_lower_equal_and_mirrored(h, H, d, 1, tol, integer ? nullptr : &sh, name);
  if (!same) {
    expect_lower_equal_and_mirrored(k, K, d, 1, tol, integer ? nullptr : &sk, name);
    const double wg = integer ? 0 : worst_scaled(g, G, sg);
    double exact_bad = 0;
    if (integer)
      for (index_t i = 0; i < d * d; ++i) exact_bad += g[i] != G[i];
    QCHECK(integer ? exact_bad == 0 : wg <= tol);
  }
  std::printf("  [cuda] Gram %s%s: checked %lld rows, d = %lld\n", name, same ? " (same inputs)" : "", (long long)rows,
              (long long)d);
}

std::vector<qnn::ConvSpec> conv_specs() {
  std::vector<qnn::ConvSpec> v;
  qnn::ConvSpec s;
  s.n = 3; s.h = 9; s.w = 8; s.c = 4; s.kh = 3; s.kw = 3; s.same = true;
  v.push_back(s);  // groups 1, hwc, same
  s.groups = 2; s.order = qnn::ColumnOrder::kChw; s.same = false; s.sh = 2; s.sw = 1; s.dh = 2; s.dw = 1;
  v.push_back(s);  // grouped, chw, valid, strided, dilated
  s = qnn::ConvSpec();
  s.n = 2; s.h = 7; s.w = 7; s.c = 6; s.kh = 3; s.kw = 2; s.same = true; s.groups = 6; s.sh = 2; s.sw = 2;
  v.push_back(s);  // depthwise
  s = qnn::ConvSpec();
  s.n = 4; s.h = 12; s.w = 10; s.c = 3; s.kh = 3; s.kw = 3; s.same = true; s.mode = qnn::PatchMode::kZzs;
  s.retain = 0.5; s.seed = 7; s.image_offset = 5; s.order = qnn::ColumnOrder::kChw;
  v.push_back(s);  // ZZS sampled
  s.retain = 1.0; s.groups = 3;
  v.push_back(s);  // ZZS, all positions, per channel
  return v;
}

template <typename T>
void gram_conv_parity(const qnn::ConvSpec& spec0, bool integer, bool same, const char* what) {
  const qnn::ConvGeometry geo = qnn::conv_geometry(spec0);
  const index_t d = geo.cols_per_group, groups = spec0.groups;
  const index_t in = spec0.n * spec0.h * spec0.w * spec0.c;
  std::vector<float> x = rand_floats(2 * in, 11, integer), xq = rand_floats(2 * in, 12, integer);
  std::vector<T> G(groups * d * d, 0), H(G.size(), 0), K(G.size(), 0);
  auto acc = qc::make_gram_accumulator(d, static_cast<int>(groups), sizeof(T) == 8, same, true);
  for (int b = 0; b < 2; ++b) {  // two batches: the ZZS streams continue with image_offset
    qnn::ConvSpec s = spec0;
    s.image_offset = spec0.image_offset + b * spec0.n;
    const float* xb = x.data() + b * in;
    const float* xqb = same ? nullptr : xq.data() + b * in;
    qnn::gram_accumulate_conv<T>(same ? nullptr : G.data(), H.data(), same ? nullptr : K.data(), s, xb, xqb, 2);
    acc->add_conv(s, xb, xqb);
  }
  std::vector<T> g(G.size(), -1), h(G.size(), -1), k(G.size(), -1);
  acc->download(same ? nullptr : g.data(), h.data(), same ? nullptr : k.data());
  // Tolerance relative to the largest |entry| (these sums have few terms).
  double mag = 0;
  for (T v : H) mag = std::max(mag, std::fabs(static_cast<double>(v)));
  const double tol = integer ? 0.0 : (sizeof(T) == 8 ? 1e-12 : 2e-5) * (1 + mag);
  expect_lower_equal_and_mirrored(h, H, d, static_cast<int>(groups), tol, nullptr, what);
  if (!same) {
    expect_lower_equal_and_mirrored(k, K, d, static_cast<int>(groups), tol, nullptr, what);
    double worst = 0;
    for (std::size_t i = 0; i < G.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(g[i]) - G[i]));
    QCHECK(worst <= tol);
  }
}

void gram_conv_all() {
  int n = 0;
  for (const qnn::ConvSpec& s : conv_specs())
    for (bool same : {false, true}) {
      gram_conv_parity<double>(s, true, same, "conv f64 exact");
      gram_conv_parity<float>(s, true, same, "conv f32 exact");
      gram_conv_parity<float>(s, false, same, "conv f32");
      gram_conv_parity<double>(s, false, same, "conv f64");
      n += 4;
    }
  // Batches larger than one upload chunk (2^22 floats of images) and one patch chunk (4096 rows),
  // with patch chunks that end inside an image: depthwise, 17 images of 128x128x16, 361 rows each.
  qnn::ConvSpec big;
  big.n = 17; big.h = 128; big.w = 128; big.c = 16; big.kh = 3; big.kw = 3; big.sh = 7; big.sw = 7;
  big.same = true; big.groups = 16;
  gram_conv_parity<double>(big, true, false, "conv f64 exact, chunked depthwise");
  big = qnn::ConvSpec();  // ZZS sampled: 120 images of 96x96x8, 257 sampled rows each
  big.n = 120; big.h = 96; big.w = 96; big.c = 8; big.kh = 3; big.kw = 3; big.same = true;
  big.mode = qnn::PatchMode::kZzs; big.retain = 0.25; big.seed = 3;
  gram_conv_parity<float>(big, true, false, "conv f32 exact, chunked ZZS");
  std::printf("  [cuda] Gram conv: %d spec/precision/mode cases + 2 chunked batches checked\n", n);
}

void im2col_parity() {
  int cases = 0;
  for (const qnn::ConvSpec& s : conv_specs()) {
    const qnn::ConvGeometry geo = qnn::conv_geometry(s);
    const index_t total = geo.rows_per_image * s.n;
    std::vector<float> x = rand_floats(s.n * s.h * s.w * s.c, 21, false);
    const index_t ranges[3][2] = {{0, total}, {5, std::min<index_t>(37, total - 5)}, {total - 1, 1}};
    for (const auto& r : ranges) {
      std::vector<float> cpu(r[1] * geo.cols, -5), gpu(r[1] * geo.cols, -7);
      qnn::im2col_rows(s, geo, x.data(), r[0], r[1], cpu.data(), 1);
      qc::im2col_rows(s, x.data(), r[0], r[1], gpu.data());
      QCHECK(std::memcmp(cpu.data(), gpu.data(), cpu.size() * sizeof(float)) == 0);
      ++cases;
    }
  }
  std::printf("  [cuda] im2col: %d spec/row-range cases bit-identical to the CPU\n", cases);
}

// ---- parity: GPFQ ------------------------------------------------------------------------------

void gpfq_f64_parity() {
  int cases = 0;
  for (bool distinct : {false, true})
    for (bool shortcut : {false, true})
      for (auto dead : {qnn::DeadRule::kQZero, qnn::DeadRule::kZero})
        for (int block : {1, 7, 128}) {
          Problem p = make_problem(300, 60, 25, 11, distinct, {0, 13, 59});
          qnn::GpfqOptions opt;
          opt.shortcut = shortcut;
          opt.dead = dead;
          opt.block = block;
          opt.threads = 2;
          expect_same_run(cuda_direct<double>(p, opt, distinct), cpu_direct<double>(p, opt, distinct), 1e-9, "direct f64");
          const Grams<double> g = cpu_grams<double>(p, distinct);
          expect_same_run(cuda_gram<double>(p, g, opt, distinct), cpu_gram<double>(p, g, opt, distinct), 1e-7, "gram f64");
          cases += 2;
        }
  std::printf("  [cuda] GPFQ float64: %d cases with codes and q identical to the CPU\n", cases);
}

void gpfq_quantizer_parity() {
  int cases = 0;
  for (auto kind : {qnn::QuantizerKind::kStochastic, qnn::QuantizerKind::kL1, qnn::QuantizerKind::kL0,
                    qnn::QuantizerKind::kNearest}) {
    Problem p = make_problem(200, 40, 12, 3, true, {5});
    qnn::GpfqOptions opt;
    opt.quant.kind = kind;
    opt.quant.seed = 42;
    opt.quant.lambda = 0.01;
    opt.block = 16;
    if (kind == qnn::QuantizerKind::kL0) {
      opt.quant.delta = 0.05;
      opt.quant.k_max = 5;
      p.levels = qnn::make_l0_alphabet(opt.quant.delta, opt.quant.lambda, opt.quant.k_max);
    }
    if (kind == qnn::QuantizerKind::kNearest) opt.quant.tie_upper = true;
    expect_same_run(cuda_direct<double>(p, opt, true), cpu_direct<double>(p, opt, true), 1e-9, "direct quantizer");
    const Grams<double> g = cpu_grams<double>(p, true);
    expect_same_run(cuda_gram<double>(p, g, opt, true), cpu_gram<double>(p, g, opt, true), 1e-7, "gram quantizer");
    cases += 2;
  }
  std::printf("  [cuda] GPFQ stochastic / L1 / L0 / tie-upper quantizers: %d cases identical to the CPU\n", cases);
}

void gpfq_shortcut_parity() {
  // Variant E: q_0 = Q(w_0) instead of Q(w_0 <Xq_0, X_0> / ||Xq_0||^2). The shared cases above have
  // a dead column 0, where the shortcut never fires; here column 0 is live and X != Xq (seed 8: 22
  // of the 1500 codes change with the shortcut on the CPU).
  Problem p = make_problem(300, 60, 25, 8, true, {13});
  qnn::GpfqOptions opt;
  opt.shortcut = true;
  opt.block = 16;
  qnn::GpfqOptions off = opt;
  off.shortcut = false;
  const Run cpu = cpu_direct<double>(p, opt, true);
  const index_t sensitive = mismatches(cpu.codes, cpu_direct<double>(p, off, true).codes);
  QCHECK(sensitive > 0);
  expect_same_run(cuda_direct<double>(p, opt, true), cpu, 1e-9, "direct shortcut");
  const Grams<double> g = cpu_grams<double>(p, true);
  expect_same_run(cuda_gram<double>(p, g, opt, true), cpu_gram<double>(p, g, opt, true), 1e-7, "gram shortcut");
  std::printf("  [cuda] GPFQ shortcut (variant E, live column 0; %lld codes depend on it): identical to the CPU\n",
              (long long)sensitive);
}

void gpfq_tie_parity() {
  // Exact ties: with the alphabet {-0.5, 0.5}, Q(0) is halfway. Dead inputs (rule Q(0)) and, with
  // the shortcut, the all-zero weight row t = 0 (c = 0, q = Q(w_0) = Q(0)) hit it for every neuron.
  for (bool tie_upper : {false, true})
    for (auto kind : {qnn::QuantizerKind::kNearest, qnn::QuantizerKind::kL1}) {
      Problem p = make_problem(100, 20, 8, 9, true, {3, 11});
      p.levels = {-0.5f, 0.5f};
      for (index_t j = 0; j < p.n1; ++j) p.w[j] = 0.0f;
      qnn::GpfqOptions opt;
      opt.shortcut = true;
      opt.block = 8;
      opt.quant.kind = kind;
      opt.quant.tie_upper = tie_upper;
      const Run d = cuda_direct<double>(p, opt, true);
      expect_same_run(d, cpu_direct<double>(p, opt, true), 1e-9, "direct ties");
      const Grams<double> g = cpu_grams<double>(p, true);
      expect_same_run(cuda_gram<double>(p, g, opt, true), cpu_gram<double>(p, g, opt, true), 1e-7, "gram ties");
      const std::int32_t want = tie_upper ? 1 : 0;
      for (index_t j = 0; j < p.n1; ++j)
        QCHECK(d.codes[j] == want && d.codes[3 * p.n1 + j] == want && d.codes[11 * p.n1 + j] == want);
    }
  std::printf("  [cuda] GPFQ exact ties (dead inputs, shortcut at t = 0): lower / upper rules as on the CPU\n");
}

void gpfq_f32_parity() {
  Problem p = make_problem(2000, 96, 40, 5, true, {});
  qnn::GpfqOptions opt;
  opt.threads = 2;
  opt.block = 32;
  const Run ref = cpu_direct<double>(p, opt, true);
  const Run d = cuda_direct<float>(p, opt, true);
  const Run g = cuda_gram<float>(p, cpu_grams<float>(p, true), opt, true);
  const double n = static_cast<double>(ref.codes.size());
  const double md = mismatches(ref.codes, d.codes) / n, mg = mismatches(ref.codes, g.codes) / n;
  QCHECK(md <= 0.001);
  QCHECK(mg <= 0.001);
  const Run cd = cpu_direct<float>(p, opt, true);
  for (index_t j = 0; j < p.n1; ++j) {
    QCHECK_NEAR(d.err[j], cd.err[j], 0.05 * (1 + cd.err[j]));  // a few codes may differ in float32
    QCHECK_NEAR(g.rel[j], cd.rel[j], 0.05);
  }
  std::printf("  [cuda] GPFQ float32: code mismatch vs float64 CPU: direct %.4f %%, gram %.4f %% (limit 0.1 %%)\n",
              100 * md, 100 * mg);
}

void gpfq_large_parity() {
  // Several blocks, partial tiles and split-K (m = 5000 along K), in float64.
  Problem p = make_problem(5000, 300, 130, 21, true, {7, 200});
  qnn::GpfqOptions opt;
  opt.threads = 2;
  opt.block = 128;
  expect_same_run(cuda_direct<double>(p, opt, true), cpu_direct<double>(p, opt, true), 1e-9, "direct f64 large");
  const Grams<double> g = cpu_grams<double>(p, true);
  expect_same_run(cuda_gram<double>(p, g, opt, true), cpu_gram<double>(p, g, opt, true), 1e-7, "gram f64 large");
  // The device accumulator feeds the device sweep.
  auto acc = qc::make_gram_accumulator(p.n0, 1, true, false, true);
  acc->add(p.x.data(), p.xq.data(), p.m);
  Grams<double> dg{std::vector<double>(p.n0 * p.n0), std::vector<double>(p.n0 * p.n0), std::vector<double>(p.n0 * p.n0)};
  acc->download(dg.G.data(), dg.H.data(), dg.K.data());
  const Run ref = cpu_direct<double>(p, opt, true);
  QCHECK(mismatches(cuda_gram<double>(p, dg, opt, true).codes, ref.codes) == 0);
  std::printf("  [cuda] GPFQ float64 m = 5000, n0 = 300, n1 = 130: direct, gram and device-Gram runs identical\n");
}

void device_error_contracts() {
  Problem p = make_problem(50, 10, 4, 2, true, {});
  qnn::GpfqOptions opt;
  opt.block = 0;
  Run r(p);
  QCHECK_THROWS_CODE(qc::gpfq_direct<double>(p.w.data(), p.n0, p.n1, p.x.data(), p.xq.data(), p.m, p.levels.data(),
                                             static_cast<int>(p.levels.size()), opt, r.out()),
                     qnn::code::kRange);
  bool memory_with_numbers = false;
  try {
    qc::make_gram_accumulator(index_t{1} << 22, 1, true, false, true);
  } catch (const qnn::Error& e) {
    memory_with_numbers = std::string(e.code()) == qnn::code::kMemory && std::strstr(e.what(), "MiB") != nullptr;
  }
  QCHECK(memory_with_numbers);
  auto acc = qc::make_gram_accumulator(p.n0, 1, false, false, false);
  QCHECK_THROWS_CODE(acc->add(p.x.data(), nullptr, p.m), qnn::code::kValue);
  std::vector<float> h(p.n0 * p.n0), k(h.size());
  QCHECK_THROWS_CODE(acc->download(nullptr, h.data(), k.data()), qnn::code::kValue);
  qnn::ConvSpec s;
  s.n = 1; s.h = 5; s.w = 5; s.c = 4; s.kh = 1; s.kw = 1; s.groups = 2;
  std::vector<float> x(100, 1.0f);
  QCHECK_THROWS_CODE(acc->add_conv(s, x.data(), x.data()), qnn::code::kShape);
  std::vector<float> dst(100);
  QCHECK_THROWS_CODE(qc::im2col_rows(s, x.data(), 20, 10, dst.data()), qnn::code::kRange);
  // The accumulator still works after the rejected calls.
  acc->add(p.x.data(), p.xq.data(), p.m);
  acc->download(nullptr, h.data(), nullptr);
  std::vector<float> H(h.size(), 0);
  qnn::gram_accumulate<float>(std::vector<float>(h.size()).data(), H.data(), nullptr, p.n0, p.x.data(), p.xq.data(),
                              p.m, p.n0, 1);
  QCHECK_NEAR(h[3 * p.n0 + 2], H[3 * p.n0 + 2], 1e-4 * (1 + std::fabs(H[3 * p.n0 + 2])));
  std::printf("  [cuda] error contracts on the device: QNN_E_RANGE / QNN_E_MEMORY / QNN_E_VALUE / QNN_E_SHAPE\n");
}

}  // namespace

QTEST(cuda_backend) {
  const qc::Info& ci = qc::info();
  QCHECK(&ci == &qc::info());  // cached
  QCHECK(ci.compiled == static_cast<bool>(QNN_BUILD_CUDA));
  if (!ci.compiled) {
    std::printf("  [SKIP-CUDA] CUDA backend not compiled into this build: %s\n", ci.reason.c_str());
    QCHECK(!ci.available && ci.device_count == 0 && !ci.reason.empty());
    QCHECK(qc::estimate_gram_bytes(100, 1, true, false, true, 4096) == 0);
    expect_calls_unavailable();
    return;
  }
  QCHECK(ci.runtime_version > 0);
  expect_estimates_consistent();
  if (!ci.available) {
    std::printf("  [SKIP-CUDA] no CUDA device: %s (parity with the CPU NOT checked)\n", ci.reason.c_str());
    QCHECK(!ci.reason.empty());
    expect_calls_unavailable();
    return;
  }
  std::printf("  [cuda] device %d of %d: %s, compute capability %d.%d, %.0f MiB total, runtime %d, driver %d\n",
              ci.device, ci.device_count, ci.name.c_str(), ci.cc_major, ci.cc_minor, ci.total_bytes / 1048576.0,
              ci.runtime_version, ci.driver_version);
  QCHECK(ci.reason.empty() && ci.device >= 0 && ci.device < ci.device_count && ci.total_bytes > 0);
  QCHECK(ci.cc_major * 10 + ci.cc_minor >= 75);
  const bool quick = std::getenv("QNN_CUDA_TEST_QUICK") != nullptr;
  for (bool same : {false, true}) {
    gram_dense_parity<float>(false, same);
    gram_dense_parity<double>(false, same);
    gram_dense_parity<float>(true, same);
    gram_dense_parity<double>(true, same);
    gram_dense_parity<float>(false, same, 72);
    gram_dense_parity<float>(true, same, 72);
    // Too slow for the host emulation (run.sh) and for compute-sanitizer's racecheck
    // (QNN_CUDA_TEST_QUICK=1); checked on a GPU.
    if (ci.name != "host emulation" && !quick) gram_dense_parity<float>(true, same, 1028, 2100, 1900);
  }
  gram_conv_all();
  im2col_parity();
  gpfq_f64_parity();
  gpfq_quantizer_parity();
  gpfq_shortcut_parity();
  gpfq_tie_parity();
  gpfq_f32_parity();
  if (!quick) gpfq_large_parity();
  device_error_contracts();
}
