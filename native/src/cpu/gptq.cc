#include "qnn/gptq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "qnn/gemm.h"
#include "qnn/parallel.h"
#include "qnn/simd.h"
#include "internal.h"

namespace qnn {
namespace {

constexpr index_t kNB = 128;  // block of the factorisation
constexpr index_t kRB = 64;   // row block of the triangular products (one task each)
constexpr index_t kCB = 256;  // column chunk of the panel solve (one task each)

using detail::alloc;

// dst[c0:c1] -= a * src[c0:c1]
template <typename T>
QNN_ALWAYS_INLINE void axpy_sub_body(T* dst, const T* src, T a, index_t c0, index_t c1) {
  for (index_t c = c0; c < c1; ++c) dst[c] -= a * src[c];
}

template <typename T>
void axpy_sub_portable(T* dst, const T* src, T a, index_t c0, index_t c1) {
  axpy_sub_body<T>(dst, src, a, c0, c1);
}

#if defined(QNN_HAS_AVX2_CLONES)
template <typename T>
QNN_TARGET_AVX2 void axpy_sub_avx2(T* dst, const T* src, T a, index_t c0, index_t c1) {
  axpy_sub_body<T>(dst, src, a, c0, c1);
}
#endif

template <typename T>
void axpy_sub(T* dst, const T* src, T a, index_t c0, index_t c1) {
#if defined(QNN_HAS_AVX2_CLONES)
  if (use_avx2()) return axpy_sub_avx2<T>(dst, src, a, c0, c1);
#endif
  axpy_sub_portable<T>(dst, src, a, c0, c1);
}

index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// In-place lower Cholesky factor of the n x n row-major A (lower triangle read and written; the
// upper triangle is scratch). Right-looking, blocked: per block of kNB columns, the diagonal block
// is factored directly, the panel below is solved on its transpose (contiguous axpys), and the
// trailing lower triangle gets one GEMM. Returns -1, or the first index with a non-positive pivot.
template <typename T>
index_t chol_lower(T* A, index_t n, int threads) {
  std::vector<T> PT;
  GemmOptions lo;
  lo.threads = threads;
  lo.lower_only = true;
  for (index_t k0 = 0; k0 < n; k0 += kNB) {
    const index_t kb = std::min(kNB, n - k0), k1 = k0 + kb, rest = n - k1;
    T* D = A + k0 * n + k0;
    for (index_t i = 0; i < kb; ++i) {
      T* ri = D + i * n;
      for (index_t j = 0; j <= i; ++j) {
        const T* rj = D + j * n;
        double s = static_cast<double>(ri[j]);
        for (index_t p = 0; p < j; ++p) s -= static_cast<double>(ri[p]) * static_cast<double>(rj[p]);
        if (j < i) {
          ri[j] = static_cast<T>(s / static_cast<double>(rj[j]));
        } else {
          if (!(s > 0) || !std::isfinite(s)) return k0 + i;
          ri[i] = static_cast<T>(std::sqrt(s));
        }
      }
    }
    if (rest == 0) break;
    // Panel L21 = A21 L11^-T, solved as PT = L11^-1 A21^T (kb x rest).
    PT.resize(static_cast<std::size_t>(kb * rest));
    T* pt = PT.data();
    for (index_t r = 0; r < rest; ++r)
      for (index_t c = 0; c < kb; ++c) pt[c * rest + r] = A[(k1 + r) * n + k0 + c];
    parallel_for(ceil_div(rest, kCB), threads, [&](index_t ci, int) {
      const index_t c0 = ci * kCB, c1 = std::min(rest, c0 + kCB);
      for (index_t c = 0; c < kb; ++c) {
        T* pc = pt + c * rest;
        const T d = D[c * n + c];
        for (index_t r = c0; r < c1; ++r) pc[r] /= d;
        for (index_t c2 = c + 1; c2 < kb; ++c2) axpy_sub<T>(pt + c2 * rest, pc, D[c2 * n + c], c0, c1);
      }
    });
    for (index_t r = 0; r < rest; ++r)
      for (index_t c = 0; c < kb; ++c) A[(k1 + r) * n + k0 + c] = pt[c * rest + r];
    GemmSeg s = seg(Trans::kT, static_cast<const T*>(pt), rest, static_cast<const T*>(pt), rest, kb, -1.0);
    gemm<T>(rest, rest, &s, 1, A + k1 * n + k1, n, lo);
  }
  return -1;
}

// Lower-triangular inverse of the b x b block D (row stride ld), in place, through double scratch.
template <typename T>
void invert_lower_block(T* D, index_t b, index_t ld, std::vector<double>& L, std::vector<double>& X) {
  L.assign(static_cast<std::size_t>(b * b), 0.0);
  X.assign(static_cast<std::size_t>(b * b), 0.0);
  for (index_t i = 0; i < b; ++i)
    for (index_t j = 0; j <= i; ++j) L[i * b + j] = static_cast<double>(D[i * ld + j]);
  for (index_t i = 0; i < b; ++i) {
    const double lii = L[i * b + i];
    for (index_t j = 0; j < i; ++j) {
      double s = 0;
      for (index_t p = j; p < i; ++p) s += L[i * b + p] * X[p * b + j];
      X[i * b + j] = -s / lii;
    }
    X[i * b + i] = 1.0 / lii;
  }
  for (index_t i = 0; i < b; ++i)
    for (index_t j = 0; j <= i; ++j) D[i * ld + j] = static_cast<T>(X[i * b + j]);
}

// In-place inverse of the lower-triangular A (strict upper triangle must be zero; stays zero).
// Blocks of kNB columns from the last: with L = [L11 0; L21 L22] and L22^-1 already in place,
// L21 <- -(L22^-1 L21) L11^-1. The first product is triangular: each row block multiplies only
// the columns up to its own end (one single-threaded GEMM per row block, blocks in parallel).
template <typename T>
void tri_inverse_lower(T* A, index_t n, int threads) {
  std::vector<T> T1;
  std::vector<double> sl, sx;
  GemmOptions go, one;
  go.threads = threads;
  one.threads = 1;
  for (index_t j0 = ((n - 1) / kNB) * kNB; j0 >= 0; j0 -= kNB) {
    const index_t jb = std::min(kNB, n - j0), j1 = j0 + jb, rest = n - j1;
    T* D = A + j0 * n + j0;
    invert_lower_block<T>(D, jb, n, sl, sx);
    if (rest == 0) continue;
    T1.assign(static_cast<std::size_t>(rest * jb), T(0));
    const T* P = A + j1 * n + j0;
    parallel_for(ceil_div(rest, kRB), threads, [&](index_t b, int) {
      const index_t r0 = b * kRB, r1 = std::min(rest, r0 + kRB);
      GemmSeg s = seg(Trans::kN, static_cast<const T*>(A + (j1 + r0) * n + j1), n, P, n, r1);
      gemm<T>(r1 - r0, jb, &s, 1, T1.data() + r0 * jb, jb, one);
    });
    for (index_t r = 0; r < rest; ++r) std::fill(A + (j1 + r) * n + j0, A + (j1 + r) * n + j1, T(0));
    GemmSeg s = seg(Trans::kN, static_cast<const T*>(T1.data()), jb, static_cast<const T*>(D), n, jb, -1.0);
    gemm<T>(rest, jb, &s, 1, A + j1 * n + j0, n, go);
  }
}

template <typename T>
void zero_strict_upper(T* A, index_t n) {
  for (index_t i = 0; i < n; ++i) std::fill(A + i * n + i + 1, A + (i + 1) * n, T(0));
}

std::string format_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

template <typename T>
index_t inverse_cholesky_upper(T* A, index_t n, int threads) {
  require(A != nullptr && n > 0, code::kEmpty, "inverse_cholesky_upper needs a non-empty matrix");
  threads = resolve_threads(threads);
  // With J the index reversal, J A J = L L^T gives A = R R^T for the upper R = J L J, so
  // A^-1 = U^T U with U = R^-1 = J L^-1 J. Reversing the row-major array applies J on both sides.
  mirror_lower(A, n, n);
  std::reverse(A, A + n * n);
  const index_t bad = chol_lower(A, n, threads);
  if (bad >= 0) return n - 1 - bad;
  zero_strict_upper(A, n);
  tri_inverse_lower(A, n, threads);
  std::reverse(A, A + n * n);
  return -1;
}

template <typename T>
void gptq(const float* w, index_t n0, index_t n1, const T* G, T* H, T* K, bool same, const float* levels,
          int n_levels, const GptqOptions& opt, GpfqOutput out) {
  require(w != nullptr && n0 > 0 && n1 > 0, code::kEmpty, "weights must be a non-empty n0 x n1 matrix");
  require(levels != nullptr && n_levels >= 1, code::kEmpty, "alphabet must have at least one level");
  require(H != nullptr, code::kEmpty, "gptq needs H = Xq^T Xq");
  require(out.codes != nullptr && out.q != nullptr, code::kInternal, "gptq needs codes and q outputs");
  require(opt.block >= 1, code::kRange, "block must be >= 1");
  require(std::isfinite(opt.perc_damp) && opt.perc_damp >= 0, code::kRange, "percDamp must be a finite number >= 0");
  const int threads = resolve_threads(opt.threads);
  const Quantizer quant(levels, n_levels, opt.quant);
  const index_t n = n0;

  // Dead inputs and the visiting order (act-order: decreasing diag(H), stable).
  std::vector<double> diag(static_cast<std::size_t>(n));
  std::vector<char> dead(static_cast<std::size_t>(n));
  double diag_sum = 0;
  for (index_t t = 0; t < n; ++t) {
    const double d = static_cast<double>(H[t * n + t]);
    dead[t] = d == 0;
    diag[t] = dead[t] ? 1.0 : d;
    diag_sum += diag[t];
  }
  std::vector<index_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), index_t{0});
  if (opt.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](index_t a, index_t b) { return diag[a] > diag[b]; });
  }
  const double damp = opt.perc_damp * (diag_sum / static_cast<double>(n));

  // U from P = H[perm, perm] + damp I: H is mirrored once so that every row is a contiguous gather.
  mirror_lower(H, n, n);
  auto U = alloc<T>(static_cast<std::size_t>(n * n), "the n0 x n0 GPTQ factor");
  parallel_for(n, threads, [&](index_t i, int) {
    const T* src = H + perm[i] * n;
    T* row = U.data() + i * n;
    for (index_t j = 0; j < n; ++j) row[j] = src[perm[j]];
    row[i] = static_cast<T>(diag[perm[i]] + damp);
  });
  const index_t bad = inverse_cholesky_upper(U.data(), n, threads);
  if (bad >= 0) {
    throw Error(code::kValue, "H is not positive definite after damping (found at input " + std::to_string(perm[bad]) +
                                  " with percDamp = " + format_number(opt.perc_damp) +
                                  "); increase percDamp (e.g. to 0.1) or check that H = Xq^T Xq was accumulated "
                                  "correctly");
  }

  // Working weights in visiting order; dead inputs start at 0.
  auto Wp = alloc<T>(static_cast<std::size_t>(n * n1), "the working weights");
  for (index_t t = 0; t < n; ++t) {
    const index_t src = perm[t];
    if (dead[src]) continue;
    for (index_t j = 0; j < n1; ++j) Wp[t * n1 + j] = static_cast<T>(w[src * n1 + j]);
  }
  const index_t B = std::min<index_t>(opt.block, n);
  auto E = alloc<T>(static_cast<std::size_t>(B * n1), "the block errors");
  std::vector<Rng32> rngs;
  rngs.reserve(static_cast<std::size_t>(n1));
  for (index_t j = 0; j < n1; ++j) rngs.emplace_back(mix_seed(opt.quant.seed, static_cast<std::uint32_t>(j)));
  const index_t min_chunk = 16;
  const index_t chunk =
      std::max(min_chunk, ceil_div(ceil_div(n1, threads), min_chunk) * min_chunk);
  const index_t nchunks = ceil_div(n1, chunk);
  GemmOptions go;
  go.threads = threads;
  for (index_t i1 = 0; i1 < n; i1 += B) {
    const index_t i2 = std::min(n, i1 + B);
    parallel_for(nchunks, threads, [&](index_t ci, int) {
      const index_t j0 = ci * chunk, j1 = std::min(n1, j0 + chunk);
      for (index_t t = i1; t < i2; ++t) {
        const T* ut = U.data() + t * n;
        const T utt = ut[t];
        const T* wt = Wp.data() + t * n1;
        T* et = E.data() + (t - i1) * n1;
        const index_t orig = perm[t];
        for (index_t j = j0; j < j1; ++j) {
          const T z = wt[j];
          const int idx = quant.quantize(static_cast<double>(z), &rngs[j]);
          const float qv = levels[idx];
          et[j] = (z - static_cast<T>(qv)) / utt;
          out.codes[orig * n1 + j] = idx;
          out.q[orig * n1 + j] = qv;
        }
        for (index_t r = t + 1; r < i2; ++r) axpy_sub<T>(Wp.data() + r * n1, et, ut[r], j0, j1);
      }
    });
    if (i2 < n) {
      GemmSeg s = seg(Trans::kT, static_cast<const T*>(U.data() + i1 * n + i2), n, static_cast<const T*>(E.data()), n1,
                      i2 - i1, -1.0);
      gemm<T>(n - i2, n1, &s, 1, Wp.data() + i2 * n1, n1, go);
    }
  }
  detail::gram_output_errors<T>(w, n0, n1, G, H, K, same, out.q, threads, out);
}

template index_t inverse_cholesky_upper<float>(float*, index_t, int);
template index_t inverse_cholesky_upper<double>(double*, index_t, int);
template void gptq<float>(const float*, index_t, index_t, const float*, float*, float*, bool, const float*, int,
                          const GptqOptions&, GpfqOutput);
template void gptq<double>(const float*, index_t, index_t, const double*, double*, double*, bool, const float*, int,
                           const GptqOptions&, GpfqOutput);

}  // namespace qnn
