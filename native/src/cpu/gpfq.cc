#include "qnn/gpfq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "qnn/gemm.h"
#include "qnn/parallel.h"
#include "qnn/simd.h"
#include "internal.h"

namespace qnn {
namespace {

constexpr double kDeadNorm2 = 1e-32;  // ||Xq_t|| < 1e-16
constexpr double kShortcut = 1e-10;   // variant E threshold on |<Xq_t, u>|

using detail::alloc;
using detail::finish_rel;

// R[r][j0:j1] += g[r] * w[j0:j1] - h[r] * q[j0:j1] for r in [0, rows); g, h strided.
template <typename T>
QNN_ALWAYS_INLINE void push_rows_body(T* R, index_t ldr, index_t rows, const T* g, index_t ldg, const T* h,
                                      index_t ldh, const float* w, const T* q, index_t j0, index_t j1) {
  for (index_t r = 0; r < rows; ++r) {
    const T gr = g[r * ldg], hr = h[r * ldh];
    T* row = R + r * ldr;
    for (index_t j = j0; j < j1; ++j) row[j] += gr * static_cast<T>(w[j]) - hr * q[j];
  }
}

template <typename T>
void push_rows_portable(T* R, index_t ldr, index_t rows, const T* g, index_t ldg, const T* h, index_t ldh,
                        const float* w, const T* q, index_t j0, index_t j1) {
  push_rows_body<T>(R, ldr, rows, g, ldg, h, ldh, w, q, j0, j1);
}

#if defined(QNN_HAS_AVX2_CLONES)
template <typename T>
QNN_TARGET_AVX2 void push_rows_avx2(T* R, index_t ldr, index_t rows, const T* g, index_t ldg, const T* h, index_t ldh,
                                    const float* w, const T* q, index_t j0, index_t j1) {
  push_rows_body<T>(R, ldr, rows, g, ldg, h, ldh, w, q, j0, j1);
}
#endif

template <typename T>
void push_rows(T* R, index_t ldr, index_t rows, const T* g, index_t ldg, const T* h, index_t ldh, const float* w,
               const T* q, index_t j0, index_t j1) {
#if defined(QNN_HAS_AVX2_CLONES)
  if (use_avx2()) return push_rows_avx2<T>(R, ldr, rows, g, ldg, h, ldh, w, q, j0, j1);
#endif
  push_rows_portable<T>(R, ldr, rows, g, ldg, h, ldh, w, q, j0, j1);
}

struct Sweep {
  const Quantizer* quant;
  const float* levels;
  const GpfqOptions* opt;
  index_t n1;
  std::int32_t* codes;  // n0 x n1
  float* q;             // n0 x n1
  Rng32* rngs;          // per neuron
};

// The sequential part: columns t0 .. t0+bs-1. On entry R[t][j] holds c_{t0+t} without the
// in-block terms; Gb / Hb are the bs x bs diagonal blocks (lower triangle and diagonal read).
// Writes q, codes and Qt (dequantized, type T) for the block's rows.
template <typename T>
void sweep_block(const Sweep& sw, index_t t0, index_t bs, T* R, const T* Gb, index_t ldg, const T* Hb, index_t ldh,
                 const float* w, T* Qt, int threads) {
  const index_t n1 = sw.n1;
  const index_t min_chunk = 16;
  index_t chunk = std::max<index_t>(min_chunk, ((n1 + threads - 1) / threads + min_chunk - 1) / min_chunk * min_chunk);
  const index_t nchunks = (n1 + chunk - 1) / chunk;
  const Quantizer& Q = *sw.quant;
  const GpfqOptions& opt = *sw.opt;
  parallel_for(nchunks, threads, [&](index_t ci, int) {
    const index_t j0 = ci * chunk, j1 = std::min(n1, j0 + chunk);
    for (index_t t = 0; t < bs; ++t) {
      const index_t row = t0 + t;
      const double h = static_cast<double>(Hb[t * ldh + t]);
      const double g = static_cast<double>(Gb[t * ldg + t]);
      const float* wt = w + row * n1;
      T* qt = Qt + row * n1;
      const T* Rt = R + t * n1;
      const bool dead = !(h > kDeadNorm2);
      for (index_t j = j0; j < j1; ++j) {
        int idx;
        if (dead) {
          idx = opt.dead == DeadRule::kZero ? -1 : Q.quantize(0.0, &sw.rngs[j]);
        } else {
          const double c = static_cast<double>(Rt[j]);
          if (opt.shortcut && std::fabs(c) < kShortcut) {
            idx = Q.quantize(static_cast<double>(wt[j]), &sw.rngs[j]);
          } else {
            idx = Q.quantize((c + g * static_cast<double>(wt[j])) / h, &sw.rngs[j]);
          }
        }
        const float qv = idx < 0 ? 0.0f : sw.levels[idx];
        qt[j] = static_cast<T>(qv);
        sw.codes[row * n1 + j] = idx;
        sw.q[row * n1 + j] = qv;
      }
      if (t + 1 < bs) {
        push_rows<T>(R + (t + 1) * n1, n1, bs - t - 1, Gb + (t + 1) * ldg + t, ldg, Hb + (t + 1) * ldh + t, ldh, wt,
                     qt, j0, j1);
      }
    }
  });
}

void check_common(const float* w, index_t n0, index_t n1, const float* levels, int n_levels, const GpfqOptions& opt) {
  require(w != nullptr && n0 > 0 && n1 > 0, code::kEmpty, "weights must be a non-empty n0 x n1 matrix");
  require(levels != nullptr && n_levels >= 1, code::kEmpty, "alphabet must have at least one level");
  require(opt.block >= 1, code::kRange, "block must be >= 1");
}

std::vector<Rng32> make_rngs(index_t n1, std::uint32_t seed) {
  std::vector<Rng32> r;
  r.reserve(static_cast<std::size_t>(n1));
  for (index_t j = 0; j < n1; ++j) r.emplace_back(mix_seed(seed, static_cast<std::uint32_t>(j)));
  return r;
}

}  // namespace

template <typename T>
void gpfq_direct(const float* w, index_t n0, index_t n1, const float* x, const float* xq, index_t m,
                 const float* levels, int n_levels, const GpfqOptions& opt, GpfqOutput out) {
  check_common(w, n0, n1, levels, n_levels, opt);
  require(x != nullptr && m > 0, code::kEmpty, "x must hold at least one sample (m > 0)");
  const int threads = resolve_threads(opt.threads);
  const Quantizer quant(levels, n_levels, opt.quant);
  const float* xqp = xq ? xq : x;
  const index_t B = std::min<index_t>(opt.block, n0);
  auto U = alloc<T>(static_cast<std::size_t>(m * n1), "the m x n1 error matrix U (use algorithm 'gram' for large m)");
  auto R = alloc<T>(static_cast<std::size_t>(B * n1), "R");
  auto Gb = alloc<T>(static_cast<std::size_t>(B * B), "Gb");
  auto Hb = alloc<T>(xq ? static_cast<std::size_t>(B * B) : 0, "Hb");
  auto Qt = alloc<T>(static_cast<std::size_t>(n0 * n1), "Q");
  auto rngs = make_rngs(n1, opt.quant.seed);
  Sweep sw{&quant, levels, &opt, n1, out.codes, out.q, rngs.data()};
  GemmOptions go, lo;
  go.threads = lo.threads = threads;
  lo.lower_only = true;
  for (index_t t0 = 0; t0 < n0; t0 += B) {
    const index_t bs = std::min(B, n0 - t0);
    std::fill(R.begin(), R.end(), T(0));
    if (t0 > 0) {
      GemmSeg s = seg(Trans::kT, xqp + t0, n0, U.data(), n1, m);
      gemm<T>(bs, n1, &s, 1, R.data(), n1, go);
    }
    std::fill(Gb.begin(), Gb.end(), T(0));
    GemmSeg sg = seg(Trans::kT, xqp + t0, n0, x + t0, n0, m);
    gemm<T>(bs, bs, &sg, 1, Gb.data(), bs, lo);
    const T* Hp = Gb.data();
    if (xq) {
      std::fill(Hb.begin(), Hb.end(), T(0));
      GemmSeg sh = seg(Trans::kT, xq + t0, n0, xq + t0, n0, m);
      gemm<T>(bs, bs, &sh, 1, Hb.data(), bs, lo);
      Hp = Hb.data();
    }
    sweep_block<T>(sw, t0, bs, R.data(), Gb.data(), bs, Hp, bs, w, Qt.data(), threads);
    GemmSeg su[2] = {seg(Trans::kN, x + t0, n0, w + t0 * n1, n1, bs, 1.0),
                     seg(Trans::kN, xqp + t0, n0, Qt.data() + t0 * n1, n1, bs, -1.0)};
    gemm<T>(m, n1, su, 2, U.data(), n1, go);
  }
  if (!out.err && !out.rel) return;
  // err_j^2 = ||U[:, j]||^2; ref_j^2 = ||X w_j||^2 from X W in bounded row chunks.
  const index_t CH = 1024;
  const index_t nch = (m + CH - 1) / CH;
  std::vector<std::vector<double>> e2(static_cast<std::size_t>(nch), std::vector<double>(n1, 0.0));
  std::vector<std::vector<double>> r2(static_cast<std::size_t>(nch), std::vector<double>(n1, 0.0));
  GemmOptions one;
  one.threads = 1;
  parallel_for(nch, threads, [&](index_t c, int) {
    const index_t r0 = c * CH, rn = std::min(CH, m - r0);
    std::vector<T> V(static_cast<std::size_t>(rn * n1), T(0));
    GemmSeg s = seg(Trans::kN, x + r0 * n0, n0, w, n1, n0);
    gemm<T>(rn, n1, &s, 1, V.data(), n1, one);
    auto& ec = e2[c];
    auto& rc = r2[c];
    for (index_t r = 0; r < rn; ++r) {
      const T* u = U.data() + (r0 + r) * n1;
      const T* v = V.data() + r * n1;
      for (index_t j = 0; j < n1; ++j) {
        ec[j] += static_cast<double>(u[j]) * u[j];
        rc[j] += static_cast<double>(v[j]) * v[j];
      }
    }
  });
  std::vector<double> err2(n1, 0.0), ref2(n1, 0.0);
  for (index_t c = 0; c < nch; ++c)
    for (index_t j = 0; j < n1; ++j) {
      err2[j] += e2[c][j];
      ref2[j] += r2[c][j];
    }
  finish_rel(n1, err2, ref2, out);
}

template <typename T>
void gpfq_gram(const float* w, index_t n0, index_t n1, const T* G, T* H, T* K, bool same, const float* levels,
               int n_levels, const GpfqOptions& opt, GpfqOutput out) {
  check_common(w, n0, n1, levels, n_levels, opt);
  require(H != nullptr && (same || G != nullptr), code::kEmpty, "gram form needs H (and G unless same inputs)");
  const int threads = resolve_threads(opt.threads);
  const Quantizer quant(levels, n_levels, opt.quant);
  const T* Gp = same ? H : G;
  const index_t B = std::min<index_t>(opt.block, n0);
  auto R = alloc<T>(static_cast<std::size_t>(B * n1), "R");
  auto Qt = alloc<T>(static_cast<std::size_t>(n0 * n1), "Q");
  auto rngs = make_rngs(n1, opt.quant.seed);
  Sweep sw{&quant, levels, &opt, n1, out.codes, out.q, rngs.data()};
  GemmOptions go;
  go.threads = threads;
  for (index_t t0 = 0; t0 < n0; t0 += B) {
    const index_t bs = std::min(B, n0 - t0);
    std::fill(R.begin(), R.end(), T(0));
    if (t0 > 0) {
      GemmSeg s[2] = {seg(Trans::kN, Gp + t0 * n0, n0, w, n1, t0, 1.0),
                      seg(Trans::kN, H + t0 * n0, n0, Qt.data(), n1, t0, -1.0)};
      gemm<T>(bs, n1, s, 2, R.data(), n1, go);
    }
    sweep_block<T>(sw, t0, bs, R.data(), Gp + t0 * n0 + t0, n0, H + t0 * n0 + t0, n0, w, Qt.data(), threads);
  }
  if (!out.err && !out.rel) return;
  mirror_lower(H, n0, n0);
  detail::gram_output_errors<T>(w, n0, n1, G, H, K, same, out.q, threads, out);
}

namespace detail {

void finish_rel(index_t n1, const std::vector<double>& err2, const std::vector<double>& ref2, GpfqOutput out) {
  for (index_t j = 0; j < n1; ++j) {
    const double e = std::sqrt(std::max(0.0, err2[j]));
    const double r = std::sqrt(std::max(0.0, ref2[j]));
    if (out.err) out.err[j] = e;
    if (out.rel) out.rel[j] = r > 0 ? e / r : (e == 0 ? 0.0 : std::numeric_limits<double>::infinity());
  }
}

template <typename T>
void gram_output_errors(const float* w, index_t n0, index_t n1, const T* G, const T* H, T* K, bool same,
                        const float* q, int threads, GpfqOutput out) {
  if (!out.err && !out.rel) return;
  if (!same && (!G || !K)) {
    for (index_t j = 0; j < n1; ++j) {
      if (out.err) out.err[j] = std::numeric_limits<double>::quiet_NaN();
      if (out.rel) out.rel[j] = std::numeric_limits<double>::quiet_NaN();
    }
    return;
  }
  GemmOptions go;
  go.threads = threads;
  const std::size_t nn = static_cast<std::size_t>(n0 * n1);
  std::vector<double> err2(n1, 0.0), ref2(n1, 0.0);
  auto colsum = [&](const std::vector<double>& A, const auto* Bm, double scale, std::vector<double>& acc) {
    for (index_t t = 0; t < n0; ++t)
      for (index_t j = 0; j < n1; ++j) acc[j] += scale * A[t * n1 + j] * static_cast<double>(Bm[t * n1 + j]);
  };
  if (same) {
    auto D = alloc<double>(nn, "W - Q");
    for (std::size_t i = 0; i < nn; ++i) D[i] = static_cast<double>(w[i]) - static_cast<double>(q[i]);
    auto HD = alloc<double>(nn, "H (W - Q)");
    auto HW = alloc<double>(nn, "H W");
    GemmSeg s1 = seg(Trans::kN, H, n0, static_cast<const double*>(D.data()), n1, n0);
    gemm<double>(n0, n1, &s1, 1, HD.data(), n1, go);
    GemmSeg s2 = seg(Trans::kN, H, n0, w, n1, n0);
    gemm<double>(n0, n1, &s2, 1, HW.data(), n1, go);
    colsum(HD, D.data(), 1.0, err2);
    colsum(HW, w, 1.0, ref2);
  } else {
    mirror_lower(K, n0, n0);
    const T* Kc = K;
    auto KW = alloc<double>(nn, "K W");
    auto GW = alloc<double>(nn, "G W");
    auto HQ = alloc<double>(nn, "H Q");
    GemmSeg s1 = seg(Trans::kN, Kc, n0, w, n1, n0);
    gemm<double>(n0, n1, &s1, 1, KW.data(), n1, go);
    GemmSeg s2 = seg(Trans::kN, G, n0, w, n1, n0);
    gemm<double>(n0, n1, &s2, 1, GW.data(), n1, go);
    GemmSeg s3 = seg(Trans::kN, H, n0, q, n1, n0);
    gemm<double>(n0, n1, &s3, 1, HQ.data(), n1, go);
    colsum(KW, w, 1.0, err2);
    colsum(GW, q, -2.0, err2);
    colsum(HQ, q, 1.0, err2);
    colsum(KW, w, 1.0, ref2);
  }
  finish_rel(n1, err2, ref2, out);
}

template void gram_output_errors<float>(const float*, index_t, index_t, const float*, const float*, float*, bool,
                                        const float*, int, GpfqOutput);
template void gram_output_errors<double>(const float*, index_t, index_t, const double*, const double*, double*, bool,
                                         const float*, int, GpfqOutput);

}  // namespace detail

template void gpfq_direct<float>(const float*, index_t, index_t, const float*, const float*, index_t, const float*, int,
                                 const GpfqOptions&, GpfqOutput);
template void gpfq_direct<double>(const float*, index_t, index_t, const float*, const float*, index_t, const float*,
                                  int, const GpfqOptions&, GpfqOutput);
template void gpfq_gram<float>(const float*, index_t, index_t, const float*, float*, float*, bool, const float*, int,
                               const GpfqOptions&, GpfqOutput);
template void gpfq_gram<double>(const float*, index_t, index_t, const double*, double*, double*, bool, const float*, int,
                                const GpfqOptions&, GpfqOutput);

}  // namespace qnn
