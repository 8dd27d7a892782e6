#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "qnn/alphabet.h"
#include "qnn/gemm.h"
#include "qnn/gpfq.h"
#include "qnn/gram.h"
#include "qnn/im2col.h"
#include "fixtures.h"
#include "qtest.h"

using qnn::index_t;

namespace {

using qtest::make_problem;
using qtest::Problem;

// ALGORITHMS.md 2.1, one neuron at a time, float64.
std::vector<std::int32_t> reference(const Problem& p, const qnn::GpfqOptions& opt, std::vector<double>* err) {
  std::vector<std::int32_t> codes(p.n0 * p.n1);
  qnn::Quantizer Q(p.levels.data(), static_cast<int>(p.levels.size()), opt.quant);
  if (err) err->assign(p.n1, 0.0);
  for (index_t j = 0; j < p.n1; ++j) {
    std::vector<double> u(p.m, 0.0);
    qnn::Rng32 rng(qnn::mix_seed(opt.quant.seed, static_cast<std::uint32_t>(j)));
    for (index_t t = 0; t < p.n0; ++t) {
      double nrm = 0, c = 0, gdot = 0;
      for (index_t i = 0; i < p.m; ++i) {
        double a = p.xq[i * p.n0 + t];
        nrm += a * a;
        c += a * u[i];
        gdot += a * p.x[i * p.n0 + t];
      }
      double wt = p.w[t * p.n1 + j];
      int idx;
      if (!(nrm > 1e-32)) idx = opt.dead == qnn::DeadRule::kZero ? -1 : Q.quantize(0.0, &rng);
      else if (opt.shortcut && std::fabs(c) < 1e-10) idx = Q.quantize(wt, &rng);
      else idx = Q.quantize((c + gdot * wt) / nrm, &rng);
      double qv = idx < 0 ? 0.0 : p.levels[idx];
      codes[t * p.n1 + j] = idx;
      for (index_t i = 0; i < p.m; ++i) u[i] += wt * p.x[i * p.n0 + t] - qv * p.xq[i * p.n0 + t];
    }
    if (err) {
      double s = 0;
      for (double v : u) s += v * v;
      (*err)[j] = std::sqrt(s);
    }
  }
  return codes;
}

struct Run {
  std::vector<std::int32_t> codes;
  std::vector<float> q;
  std::vector<double> err, rel;
};

template <typename T>
Run run_direct(const Problem& p, const qnn::GpfqOptions& opt, bool distinct) {
  Run r{std::vector<std::int32_t>(p.n0 * p.n1), std::vector<float>(p.n0 * p.n1), std::vector<double>(p.n1),
        std::vector<double>(p.n1)};
  qnn::gpfq_direct<T>(p.w.data(), p.n0, p.n1, p.x.data(), distinct ? p.xq.data() : nullptr, p.m, p.levels.data(),
                      static_cast<int>(p.levels.size()), opt, {r.codes.data(), r.q.data(), r.err.data(), r.rel.data()});
  return r;
}

template <typename T>
Run run_gram(const Problem& p, const qnn::GpfqOptions& opt, bool distinct, index_t batch = 97) {
  index_t d = p.n0;
  std::vector<T> G(d * d, 0), H(d * d, 0), K(d * d, 0);
  for (index_t r0 = 0; r0 < p.m; r0 += batch) {
    index_t rn = std::min(batch, p.m - r0);
    qnn::gram_accumulate<T>(distinct ? G.data() : nullptr, H.data(), distinct ? K.data() : nullptr, d,
                            p.x.data() + r0 * d, distinct ? p.xq.data() + r0 * d : nullptr, rn, d, 2);
  }
  Run r{std::vector<std::int32_t>(p.n0 * p.n1), std::vector<float>(p.n0 * p.n1), std::vector<double>(p.n1),
        std::vector<double>(p.n1)};
  qnn::gpfq_gram<T>(p.w.data(), p.n0, p.n1, G.data(), H.data(), K.data(), !distinct, p.levels.data(),
                    static_cast<int>(p.levels.size()), opt, {r.codes.data(), r.q.data(), r.err.data(), r.rel.data()});
  return r;
}

index_t mismatches(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  index_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

}  // namespace

QTEST(gpfq_direct_and_gram_equal_reference_in_float64) {
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
          std::vector<double> rerr;
          auto ref = reference(p, opt, &rerr);
          auto d = run_direct<double>(p, opt, distinct);
          auto g = run_gram<double>(p, opt, distinct);
          QCHECK(mismatches(ref, d.codes) == 0);
          QCHECK(mismatches(ref, g.codes) == 0);
          for (index_t j = 0; j < p.n1; ++j) {
            QCHECK_NEAR(d.err[j], rerr[j], 1e-8 * (1 + rerr[j]));
            QCHECK_NEAR(g.err[j], rerr[j], 1e-6 * (1 + rerr[j]));
            QCHECK_NEAR(g.rel[j], d.rel[j], 1e-7);
          }
          // dead columns: literal zero gives code -1
          for (index_t j = 0; j < p.n1; ++j) {
            if (dead == qnn::DeadRule::kZero) QCHECK(d.codes[13 * p.n1 + j] == -1 && d.q[13 * p.n1 + j] == 0.0f);
            else QCHECK(d.codes[13 * p.n1 + j] >= 0);
          }
        }
}

QTEST(gpfq_float32_matches_reference_almost_everywhere) {
  Problem p = make_problem(2000, 96, 40, 5, true, {});
  qnn::GpfqOptions opt;
  opt.threads = 2;
  opt.block = 32;
  auto ref = reference(p, opt, nullptr);
  auto d = run_direct<float>(p, opt, true);
  auto g = run_gram<float>(p, opt, true, 500);
  double n = static_cast<double>(ref.size());
  QCHECK(mismatches(ref, d.codes) / n <= 0.001);
  QCHECK(mismatches(ref, g.codes) / n <= 0.001);
}

QTEST(gpfq_stochastic_and_sparse_quantizers_match_reference) {
  for (auto kind : {qnn::QuantizerKind::kStochastic, qnn::QuantizerKind::kL1}) {
    Problem p = make_problem(200, 40, 12, 3, true, {5});
    qnn::GpfqOptions opt;
    opt.quant.kind = kind;
    opt.quant.seed = 42;
    opt.quant.lambda = 0.01;
    opt.block = 16;
    auto ref = reference(p, opt, nullptr);
    QCHECK(mismatches(ref, run_direct<double>(p, opt, true).codes) == 0);
    QCHECK(mismatches(ref, run_gram<double>(p, opt, true).codes) == 0);
  }
}

QTEST(gpfq_beats_msq_on_correlated_data) {
  Problem p = make_problem(1000, 80, 30, 9, false, {});
  qnn::GpfqOptions opt;
  auto d = run_direct<double>(p, opt, false);
  std::vector<std::int32_t> mc(p.w.size());
  std::vector<float> mq(p.w.size());
  qnn::msq(p.w.data(), static_cast<index_t>(p.w.size()), p.levels.data(), static_cast<int>(p.levels.size()), opt.quant,
           p.n1, mc.data(), mq.data());
  double gerr = 0, merr = 0;
  for (index_t j = 0; j < p.n1; ++j) {
    gerr += d.err[j] * d.err[j];
    double s = 0;
    for (index_t i = 0; i < p.m; ++i) {
      double e = 0;
      for (index_t t = 0; t < p.n0; ++t) e += p.x[i * p.n0 + t] * (p.w[t * p.n1 + j] - mq[t * p.n1 + j]);
      s += e * e;
    }
    merr += s;
  }
  QCHECK(gerr < 0.8 * merr);
}

QTEST(alphabet_known_answers) {
  std::vector<float> w = {0.5f, -1.0f, 0.25f, 2.0f};  // |w| sorted .25 .5 1 2 -> median .75
  qnn::AlphabetSpec s;
  s.kind = qnn::AlphabetKind::kLybrand;
  s.bits = std::log2(3.0);
  s.scalar = 2;
  auto a = qnn::make_alphabet(s, w.data(), 2, 2);
  QCHECK(a.size() == 3);
  QCHECK_NEAR(a[0], -1.5, 1e-7);
  QCHECK_NEAR(a[1], 0.0, 0);
  QCHECK_NEAR(a[2], 1.5, 1e-7);
  s.bits = 2;  // {-1, -1/3, 1/3, 1} * 1.5
  a = qnn::make_alphabet(s, w.data(), 2, 2);
  QCHECK(a.size() == 4);
  QCHECK_NEAR(a[1], -0.5, 1e-7);
  // ZZS: columns (0.5, 0.25) and (-1, 2): mean of per-neuron max = (0.5 + 2) / 2 = 1.25
  s.kind = qnn::AlphabetKind::kZzsUniform;
  s.bits = 2;  // K = 2, delta = C R / K = 1.25
  s.scalar = 2;
  a = qnn::make_alphabet(s, w.data(), 2, 2);
  QCHECK(a.size() == 5);
  QCHECK_NEAR(a[0], -2.5, 1e-7);
  QCHECK_NEAR(a[3], 1.25, 1e-7);
  s.kind = qnn::AlphabetKind::kZzsLinspace;
  s.bits = 1;  // {-1, 0, 1} * 2.5
  a = qnn::make_alphabet(s, w.data(), 2, 2);
  QCHECK(a.size() == 3 && a[1] == 0.0f);
  QCHECK_NEAR(a[2], 2.5, 1e-7);
  s.percentile = 0.5;  // columns: quantile_.5 of {.25,.5}=.375, of {1,2}=1.5 -> R = .9375
  a = qnn::make_alphabet(s, w.data(), 2, 2);
  QCHECK_NEAR(a[2], 1.875, 1e-7);
  s.bits = 17;
  QCHECK_THROWS_CODE(qnn::make_alphabet(s, w.data(), 2, 2), qnn::code::kRange);
}

QTEST(nearest_tie_rules) {
  std::vector<float> a = {-1, 0, 1};
  QCHECK(qnn::nearest_index(a.data(), 3, 0.5, false) == 1);
  QCHECK(qnn::nearest_index(a.data(), 3, 0.5, true) == 2);
  QCHECK(qnn::nearest_index(a.data(), 3, -0.5, false) == 0);
  QCHECK(qnn::nearest_index(a.data(), 3, -0.5, true) == 1);
  QCHECK(qnn::nearest_index(a.data(), 3, 7.0, false) == 2);
  QCHECK(qnn::nearest_index(a.data(), 3, -7.0, false) == 0);
  QCHECK(qnn::nearest_index(a.data(), 3, std::nan(""), false) == 0);
}

namespace {
// Direct convolution (TF semantics) for checking im2col.
std::vector<double> conv_ref(const qnn::ConvSpec& s, const std::vector<float>& x, const std::vector<float>& k, int F,
                             index_t* oh, index_t* ow) {
  index_t pt, pl;
  qnn::tf_output_dim(s.h, s.kh, s.sh, s.dh, s.same, oh, &pt);
  qnn::tf_output_dim(s.w, s.kw, s.sw, s.dw, s.same, ow, &pl);
  std::vector<double> out(s.n * *oh * *ow * F, 0.0);
  for (index_t n = 0; n < s.n; ++n)
    for (index_t y = 0; y < *oh; ++y)
      for (index_t xx = 0; xx < *ow; ++xx)
        for (int f = 0; f < F; ++f) {
          double acc = 0;
          for (int ky = 0; ky < s.kh; ++ky)
            for (int kx = 0; kx < s.kw; ++kx) {
              index_t iy = y * s.sh + ky * s.dh - pt, ix = xx * s.sw + kx * s.dw - pl;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              for (index_t c = 0; c < s.c; ++c)
                acc += x[((n * s.h + iy) * s.w + ix) * s.c + c] * k[((ky * s.kw + kx) * s.c + c) * F + f];
            }
          out[((n * *oh + y) * *ow + xx) * F + f] = acc;
        }
  return out;
}
}  // namespace

QTEST(im2col_times_kernel_equals_conv) {
  std::mt19937 g(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (bool same : {false, true})
    for (int stride : {1, 2})
      for (int dil : {1, 2}) {
        qnn::ConvSpec s;
        s.n = 2; s.h = 9; s.w = 7; s.c = 3; s.kh = 3; s.kw = 2; s.sh = stride; s.sw = stride; s.dh = dil; s.dw = dil;
        s.same = same;
        const int F = 4;
        std::vector<float> x(s.n * s.h * s.w * s.c), k(s.kh * s.kw * s.c * F);
        for (auto& v : x) v = u(g);
        for (auto& v : k) v = u(g);
        index_t oh, ow;
        auto ref = conv_ref(s, x, k, F, &oh, &ow);
        auto geo = qnn::conv_geometry(s);
        QCHECK(geo.oh == oh && geo.ow == ow);
        index_t rows = geo.rows_per_image * s.n;
        std::vector<float> P(rows * geo.cols);
        qnn::im2col_rows(s, geo, x.data(), 0, rows, P.data(), 2);
        double worst = 0;
        for (index_t r = 0; r < rows; ++r)
          for (int f = 0; f < F; ++f) {
            double acc = 0;
            for (index_t c = 0; c < geo.cols; ++c) acc += P[r * geo.cols + c] * k[c * F + f];
            worst = std::max(worst, std::fabs(acc - ref[r * F + f]));
          }
        QCHECK(worst < 1e-5);
      }
}

QTEST(conv_gram_streaming_equals_dense_gram_of_patches) {
  std::mt19937 g(2);
  std::uniform_real_distribution<float> u(0, 1);
  for (int groups : {1, 2, 4}) {
    for (auto mode : {qnn::PatchMode::kTrueStride, qnn::PatchMode::kZzs}) {
      qnn::ConvSpec s;
      s.n = 3; s.h = 8; s.w = 8; s.c = 4; s.kh = 3; s.kw = 3; s.same = true; s.groups = groups;
      s.mode = mode; s.retain = mode == qnn::PatchMode::kZzs ? 0.5 : 1.0; s.seed = 7;
      std::vector<float> x(s.n * s.h * s.w * s.c), xq(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) { x[i] = u(g); xq[i] = x[i] + 0.05f * u(g); }
      auto geo = qnn::conv_geometry(s);
      index_t dg = geo.cols_per_group, rows = geo.rows_per_image * s.n;
      std::vector<double> G(groups * dg * dg, 0), H(G.size(), 0), K(G.size(), 0);
      qnn::gram_accumulate_conv<double>(G.data(), H.data(), K.data(), s, x.data(), xq.data(), 2);
      std::vector<float> P(rows * geo.cols), Pq(rows * geo.cols);
      qnn::im2col_rows(s, geo, x.data(), 0, rows, P.data(), 1);
      qnn::im2col_rows(s, geo, xq.data(), 0, rows, Pq.data(), 1);
      double worst = 0;
      for (int gi = 0; gi < groups; ++gi)
        for (index_t a = 0; a < dg; ++a)
          for (index_t b = 0; b < dg; ++b) {
            double gg = 0, hh = 0, kk = 0;
            for (index_t r = 0; r < rows; ++r) {
              double pa = Pq[r * geo.cols + gi * dg + a], xb = P[r * geo.cols + gi * dg + b];
              gg += pa * xb;
              hh += pa * Pq[r * geo.cols + gi * dg + b];
              kk += P[r * geo.cols + gi * dg + a] * xb;
            }
            index_t o = gi * dg * dg + a * dg + b;
            worst = std::max(worst, std::fabs(G[o] - gg));
            if (b <= a) worst = std::max({worst, std::fabs(H[o] - hh), std::fabs(K[o] - kk)});
          }
      QCHECK(worst < 1e-9);
    }
  }
}

QTEST(zzs_sampling_is_seeded_per_image_and_independent_of_batching) {
  qnn::ConvSpec s;
  s.n = 4; s.h = 12; s.w = 12; s.c = 1; s.kh = 3; s.kw = 3; s.mode = qnn::PatchMode::kZzs; s.retain = 0.25; s.seed = 3;
  auto g = qnn::conv_geometry(s);
  QCHECK(g.oh == 4 && g.ow == 4);
  QCHECK(g.rows_per_image == static_cast<index_t>(0.25 * 16 + 1));
  std::vector<std::int32_t> a, b;
  qnn::patch_positions(s, g, 2, &a);
  qnn::ConvSpec s2 = s;
  s2.image_offset = 2;
  qnn::patch_positions(s2, g, 0, &b);
  QCHECK(a == b);
  for (auto v : a) QCHECK(v >= 0 && v < 16);
}

QTEST(alphabet_levels_lie_on_their_integer_grid) {
  std::mt19937 g(4);
  std::normal_distribution<float> nd(0, 0.2f);
  std::vector<float> w(300 * 40);
  for (auto& v : w) v = nd(g);
  for (auto kind : {qnn::AlphabetKind::kLybrand, qnn::AlphabetKind::kZzsLinspace, qnn::AlphabetKind::kZzsUniform})
    for (double bits : {1.0, std::log2(3.0), 2.0, 3.0, 4.0, 8.0}) {
      qnn::AlphabetSpec s;
      s.kind = kind;
      s.bits = bits;
      s.scalar = 1.7;
      qnn::AlphabetGrid a = qnn::make_alphabet_grid(s, w.data(), 300, 40);
      QCHECK(a.levels.size() == a.codes.size());
      for (std::size_t i = 0; i < a.levels.size(); ++i) {
        const double prod = static_cast<double>(a.codes[i]) * a.step;
        QCHECK(a.levels[i] == static_cast<float>(prod + a.min));
        if (i > 0) QCHECK(a.levels[i] > a.levels[i - 1]);
      }
      QCHECK(a.levels.front() == -a.levels.back());
      bool has_zero = std::find(a.levels.begin(), a.levels.end(), 0.0f) != a.levels.end();
      bool expect_zero = kind != qnn::AlphabetKind::kLybrand || a.levels.size() % 2 == 1;
      QCHECK(has_zero == expect_zero);
    }
}
