#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "qnn/alphabet.h"
#include "qnn/gemm.h"
#include "qnn/gptq.h"
#include "qnn/gram.h"
#include "fixtures.h"
#include "qtest.h"

using qnn::index_t;

namespace {

struct GProblem : qtest::Problem {
  std::vector<double> G, H, K;  // full, symmetric (H, K)
};

// The shared seeded problem (3-bit alphabet, C = 1) with its float64 Gram matrices.
GProblem make_gproblem(index_t m, index_t n0, index_t n1, unsigned seed, bool distinct,
                       const std::vector<index_t>& dead) {
  GProblem p{qtest::make_problem(m, n0, n1, seed, distinct, dead, 3, 1.0), {}, {}, {}};
  p.G.assign(n0 * n0, 0.0);
  p.H.assign(n0 * n0, 0.0);
  p.K.assign(n0 * n0, 0.0);
  qnn::gram_accumulate<double>(p.G.data(), p.H.data(), p.K.data(), n0, p.x.data(), p.xq.data(), m, n0, 2);
  qnn::mirror_lower(p.H.data(), n0, n0);
  qnn::mirror_lower(p.K.data(), n0, n0);
  return p;
}

std::vector<double> naive_chol(const std::vector<double>& A, index_t n) {
  std::vector<double> L(n * n, 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j <= i; ++j) {
      double s = A[i * n + j];
      for (index_t p = 0; p < j; ++p) s -= L[i * n + p] * L[j * n + p];
      L[i * n + j] = i == j ? std::sqrt(s) : s / L[j * n + j];
    }
  return L;
}

// GPTQ exactly as the reference code runs it (FIELD.md 2.1), unblocked, in double: chol(H),
// cholesky_inverse, chol(upper), then every remaining row updated after each quantized row.
std::vector<std::int32_t> naive_gptq(const GProblem& p, double perc_damp, bool act_order) {
  const index_t n = p.n0, n1 = p.n1;
  std::vector<double> H = p.H;
  std::vector<double> W(p.w.begin(), p.w.end());
  for (index_t t = 0; t < n; ++t)
    if (H[t * n + t] == 0) {
      H[t * n + t] = 1;
      for (index_t j = 0; j < n1; ++j) W[t * n1 + j] = 0;
    }
  std::vector<index_t> perm(n);
  std::iota(perm.begin(), perm.end(), index_t{0});
  if (act_order)
    std::stable_sort(perm.begin(), perm.end(), [&](index_t a, index_t b) { return H[a * n + a] > H[b * n + b]; });
  double mean = 0;
  for (index_t t = 0; t < n; ++t) mean += H[t * n + t];
  mean /= static_cast<double>(n);
  std::vector<double> P(n * n);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) P[i * n + j] = H[perm[i] * n + perm[j]];
  for (index_t i = 0; i < n; ++i) P[i * n + i] += perc_damp * mean;
  std::vector<double> L = naive_chol(P, n), Li(n * n, 0.0), Hinv(n * n, 0.0);
  for (index_t c = 0; c < n; ++c)
    for (index_t i = c; i < n; ++i) {
      double s = i == c ? 1.0 : 0.0;
      for (index_t p2 = c; p2 < i; ++p2) s -= L[i * n + p2] * Li[p2 * n + c];
      Li[i * n + c] = s / L[i * n + i];
    }
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s = 0;
      for (index_t k = std::max(i, j); k < n; ++k) s += Li[k * n + i] * Li[k * n + j];
      Hinv[i * n + j] = s;
    }
  std::vector<double> Lh = naive_chol(Hinv, n);  // U = Lh^T
  std::vector<double> Wp(n * n1);
  for (index_t t = 0; t < n; ++t)
    for (index_t j = 0; j < n1; ++j) Wp[t * n1 + j] = W[perm[t] * n1 + j];
  std::vector<std::int32_t> codes(n * n1);
  qnn::QuantizerSpec spec;
  qnn::Quantizer Q(p.levels.data(), static_cast<int>(p.levels.size()), spec);
  for (index_t t = 0; t < n; ++t) {
    const double utt = Lh[t * n + t];
    for (index_t j = 0; j < n1; ++j) {
      const double z = Wp[t * n1 + j];
      const int idx = Q.quantize(z, nullptr);
      const double e = (z - p.levels[idx]) / utt;
      codes[perm[t] * n1 + j] = idx;
      for (index_t r = t + 1; r < n; ++r) Wp[r * n1 + j] -= Lh[r * n + t] * e;
    }
  }
  return codes;
}

struct GRun {
  std::vector<std::int32_t> codes;
  std::vector<float> q;
  std::vector<double> err, rel;
};

template <typename T>
GRun run_gptq(const GProblem& p, const qnn::GptqOptions& opt, bool distinct) {
  const index_t n0 = p.n0;
  std::vector<T> G(p.G.begin(), p.G.end()), H(p.H.begin(), p.H.end()), K(p.K.begin(), p.K.end());
  GRun r{std::vector<std::int32_t>(n0 * p.n1), std::vector<float>(n0 * p.n1), std::vector<double>(p.n1),
         std::vector<double>(p.n1)};
  // Only the lower triangles are contractual: poison the upper ones.
  for (index_t i = 0; i < n0; ++i)
    for (index_t j = i + 1; j < n0; ++j) H[i * n0 + j] = K[i * n0 + j] = T(-7);
  qnn::gptq<T>(p.w.data(), n0, p.n1, G.data(), H.data(), K.data(), !distinct, p.levels.data(),
               static_cast<int>(p.levels.size()), opt, {r.codes.data(), r.q.data(), r.err.data(), r.rel.data()});
  return r;
}

// ||X w_j - X~ q_j|| straight from the samples.
std::vector<double> direct_errors(const GProblem& p, const std::vector<float>& q) {
  std::vector<double> e(p.n1, 0.0);
  for (index_t i = 0; i < p.m; ++i)
    for (index_t j = 0; j < p.n1; ++j) {
      double s = 0;
      for (index_t t = 0; t < p.n0; ++t)
        s += static_cast<double>(p.x[i * p.n0 + t]) * p.w[t * p.n1 + j] -
             static_cast<double>(p.xq[i * p.n0 + t]) * q[t * p.n1 + j];
      e[j] += s * s;
    }
  for (auto& v : e) v = std::sqrt(v);
  return e;
}

index_t count_mismatches(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  index_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

std::vector<double> random_spd(index_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> nd(0, 1);
  const index_t m = n + 8;
  std::vector<double> X(m * n), A(n * n, 0.0);
  for (auto& v : X) v = nd(g);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s = 0;
      for (index_t r = 0; r < m; ++r) s += X[r * n + i] * X[r * n + j];
      A[i * n + j] = s + (i == j ? 0.1 * n : 0.0);
    }
  return A;
}

}  // namespace

QTEST(gptq_inverse_factor_is_upper_and_inverts) {
  for (index_t n : {1, 5, 127, 128, 129, 300}) {
    std::vector<double> A = random_spd(n, static_cast<unsigned>(n));
    std::vector<double> U = A;
    for (index_t i = 0; i < n; ++i)  // only the lower triangle may be read
      for (index_t j = i + 1; j < n; ++j) U[i * n + j] = 1e30;
    QCHECK(qnn::inverse_cholesky_upper<double>(U.data(), n, 2) == -1);
    double worst = 0;
    bool upper = true;
    for (index_t i = 0; i < n; ++i) {
      upper = upper && U[i * n + i] > 0;
      for (index_t j = 0; j < i; ++j) upper = upper && U[i * n + j] == 0;
    }
    QCHECK(upper);
    // U^T U A = I
    std::vector<double> UU(n * n, 0.0);
    for (index_t r = 0; r < n; ++r)
      for (index_t i = r; i < n; ++i)
        for (index_t k = r; k < n; ++k) UU[i * n + k] += U[r * n + i] * U[r * n + k];
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j) {
        double s = 0;
        for (index_t k = 0; k < n; ++k) s += UU[i * n + k] * A[k * n + j];
        worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
      }
    QCHECK(worst < 1e-10);
    std::vector<float> Uf(A.begin(), A.end());
    QCHECK(qnn::inverse_cholesky_upper<float>(Uf.data(), n, 2) == -1);
    double fw = 0;
    for (index_t i = 0; i < n * n; ++i) fw = std::max(fw, std::fabs(Uf[i] - U[i]) / (std::fabs(U[i]) + 1e-3));
    QCHECK(fw < 1e-3);
  }
}

QTEST(gptq_not_positive_definite_is_a_value_error) {
  std::vector<double> A = {1, 2, 2, 1};  // eigenvalues 3 and -1
  QCHECK(qnn::inverse_cholesky_upper<double>(A.data(), 2, 1) == 0);
  std::vector<float> w = {0.1f, 0.2f}, levels = {-1, 0, 1}, q(2);
  std::vector<std::int32_t> codes(2);
  std::vector<double> H = {1, 2, 2, 1}, e(1), r(1);
  qnn::GptqOptions opt;
  QCHECK_THROWS_CODE(qnn::gptq<double>(w.data(), 2, 1, nullptr, H.data(), nullptr, true, levels.data(), 3, opt,
                                       {codes.data(), q.data(), e.data(), r.data()}),
                     qnn::code::kValue);
  opt.perc_damp = -1;
  H = {1, 0, 0, 1};
  QCHECK_THROWS_CODE(qnn::gptq<double>(w.data(), 2, 1, nullptr, H.data(), nullptr, true, levels.data(), 3, opt,
                                       {codes.data(), q.data(), e.data(), r.data()}),
                     qnn::code::kRange);
}

// Hand-derived: H = [[4,2],[2,2]], no damping, levels {-1,0,1}, w = (0.4, 0.3). H^-1 =
// [[.5,-.5],[-.5,1]], U = [[1,-1],[0,1]]/sqrt(2): q0 = Q(.4) = 0, w1 <- .3 - U01 (.4 - 0)/U00 = .7,
// q1 = 1. err^2 = (w-q)' H (w-q) with w-q = (.4,-.7): .64 - 1.12 + .98 = .5; ||Xw||^2 = 1.3.
// Swapping the inputs (H = [[2,2],[2,4]], w = (.3,.4)): in order q = (0, 1) (w1 <- .4 + .5 * .3);
// act-order visits input 1 first and gives q = (1, 0), err^2 = .5 again.
QTEST(gptq_known_answers) {
  std::vector<float> levels = {-1, 0, 1}, q(2);
  std::vector<std::int32_t> codes(2);
  std::vector<double> e(1), r(1);
  qnn::GptqOptions opt;
  opt.perc_damp = 0;
  std::vector<float> w = {0.4f, 0.3f};
  std::vector<double> H = {4, 2, 2, 2};
  qnn::gptq<double>(w.data(), 2, 1, nullptr, H.data(), nullptr, true, levels.data(), 3, opt,
                    {codes.data(), q.data(), e.data(), r.data()});
  QCHECK(codes[0] == 1 && codes[1] == 2);
  QCHECK_NEAR(e[0], std::sqrt(0.5), 1e-7);
  QCHECK_NEAR(r[0], std::sqrt(0.5 / 1.3), 1e-7);
  w = {0.3f, 0.4f};
  H = {2, 2, 2, 4};
  qnn::gptq<double>(w.data(), 2, 1, nullptr, H.data(), nullptr, true, levels.data(), 3, opt,
                    {codes.data(), q.data(), e.data(), r.data()});
  QCHECK(codes[0] == 1 && codes[1] == 2);
  opt.act_order = true;
  qnn::gptq<double>(w.data(), 2, 1, nullptr, H.data(), nullptr, true, levels.data(), 3, opt,
                    {codes.data(), q.data(), e.data(), r.data()});
  QCHECK(codes[0] == 2 && codes[1] == 1);
  QCHECK(q[0] == 1.0f && q[1] == 0.0f);
  QCHECK_NEAR(e[0], std::sqrt(0.5), 1e-7);
  // Dead input 0: its weight becomes 0 (q = Q(0)) whatever w_0 is; input 1 is rounded alone.
  opt.act_order = false;
  w = {0.9f, 0.3f};
  H = {0, 0, 0, 2};
  qnn::gptq<double>(w.data(), 2, 1, nullptr, H.data(), nullptr, true, levels.data(), 3, opt,
                    {codes.data(), q.data(), e.data(), r.data()});
  QCHECK(codes[0] == 1 && codes[1] == 1);
  QCHECK_NEAR(e[0], std::sqrt(2 * 0.09), 1e-7);  // the dead input costs nothing: H_00 = 0
}

QTEST(gptq_blocked_equals_naive_reference_in_float64) {
  for (bool distinct : {false, true})
    for (bool act : {false, true})
      for (int block : {1, 7, 128}) {
        GProblem p = make_gproblem(300, 60, 25, 21, distinct, {0, 13, 59});
        qnn::GptqOptions opt;
        opt.block = block;
        opt.act_order = act;
        opt.threads = 2;
        auto ref = naive_gptq(p, 0.01, act);
        auto r = run_gptq<double>(p, opt, distinct);
        QCHECK(count_mismatches(ref, r.codes) == 0);
        auto de = direct_errors(p, r.q);
        for (index_t j = 0; j < p.n1; ++j) QCHECK_NEAR(r.err[j], de[j], 1e-7 * (1 + de[j]));
        for (index_t j = 0; j < p.n1; ++j) {
          QCHECK(p.levels[r.codes[13 * p.n1 + j]] == 0.0f);  // dead input -> Q(0)
          QCHECK(r.q[5 * p.n1 + j] == p.levels[r.codes[5 * p.n1 + j]]);
        }
      }
}

QTEST(gptq_float32_matches_float64_almost_everywhere) {
  GProblem p = make_gproblem(2000, 200, 40, 5, true, {});
  qnn::GptqOptions opt;
  opt.threads = 2;
  opt.block = 32;
  auto d = run_gptq<double>(p, opt, true);
  auto f = run_gptq<float>(p, opt, true);
  QCHECK(static_cast<double>(count_mismatches(d.codes, f.codes)) / static_cast<double>(d.codes.size()) <= 0.01);
  double ed = 0, ef = 0;
  for (index_t j = 0; j < p.n1; ++j) {
    ed += d.rel[j];
    ef += f.rel[j];
  }
  QCHECK(std::fabs(ed - ef) / ed < 1e-2);
}

// With act-order the visiting order depends only on diag(H), so permuting the inputs (rows of W,
// both indices of G, H, K) permutes the returned rows and nothing else.
QTEST(gptq_act_order_is_permutation_invariant) {
  GProblem p = make_gproblem(400, 50, 12, 8, true, {7});
  const index_t n = p.n0, n1 = p.n1;
  std::vector<index_t> pi(n);
  std::iota(pi.begin(), pi.end(), index_t{0});
  std::shuffle(pi.begin(), pi.end(), std::mt19937(3));
  GProblem s = p;
  for (index_t a = 0; a < n; ++a) {
    for (index_t j = 0; j < n1; ++j) s.w[a * n1 + j] = p.w[pi[a] * n1 + j];
    for (index_t b = 0; b < n; ++b) {
      s.G[a * n + b] = p.G[pi[a] * n + pi[b]];
      s.H[a * n + b] = p.H[pi[a] * n + pi[b]];
      s.K[a * n + b] = p.K[pi[a] * n + pi[b]];
    }
  }
  qnn::GptqOptions opt;
  opt.act_order = true;
  opt.block = 16;
  auto r0 = run_gptq<double>(p, opt, true);
  auto r1 = run_gptq<double>(s, opt, true);
  index_t bad = 0;
  for (index_t a = 0; a < n; ++a)
    for (index_t j = 0; j < n1; ++j) bad += r1.codes[a * n1 + j] != r0.codes[pi[a] * n1 + j];
  QCHECK(bad == 0);
  for (index_t j = 0; j < n1; ++j) QCHECK_NEAR(r1.err[j], r0.err[j], 1e-9 * (1 + r0.err[j]));
}

QTEST(gptq_beats_msq_on_correlated_data) {
  GProblem p = make_gproblem(1000, 80, 30, 9, false, {});
  qnn::GptqOptions opt;
  auto r = run_gptq<double>(p, opt, false);
  std::vector<std::int32_t> mc(p.w.size());
  std::vector<float> mq(p.w.size());
  qnn::msq(p.w.data(), static_cast<index_t>(p.w.size()), p.levels.data(), static_cast<int>(p.levels.size()), opt.quant,
           p.n1, mc.data(), mq.data());
  auto ge = direct_errors(p, r.q), me = direct_errors(p, mq);
  double g2 = 0, m2 = 0;
  for (index_t j = 0; j < p.n1; ++j) {
    g2 += ge[j] * ge[j];
    m2 += me[j] * me[j];
  }
  QCHECK(g2 < 0.5 * m2);
}
