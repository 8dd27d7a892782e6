// Packed, cache-blocked GEMM. Loop structure (per task = a tile of C):
//   for pc (KC slices of the concatenated K): pack B[pc, cols] into NR-wide micro-panels
//     for ic (MC rows): pack alpha * op(A)[rows, pc] into MR-tall micro-panels
//       for jr, ir: micro-kernel C[MR x NR] += Ap[MR x kc] * Bp[kc x NR]
// Tasks are independent tiles of C, so threads need no barriers.
#include "qnn/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "qnn/parallel.h"
#include "qnn/simd.h"

#if defined(__x86_64__) || defined(_M_X64)
#define QNN_X86 1
#include <immintrin.h>
#endif

namespace qnn {
namespace {

template <typename T>
struct Blk;
template <>
struct Blk<float> {
  static constexpr int MR = 6, NR = 16, KC = 256, MC = 144, NC = 512;
};
template <>
struct Blk<double> {
  static constexpr int MR = 6, NR = 8, KC = 256, MC = 96, NC = 512;
};

inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }
inline index_t round_up(index_t a, index_t b) { return ceil_div(a, b) * b; }

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  ~AlignedBuffer() { std::free(p_); }
  template <typename T>
  T* get(std::size_t count) {
    std::size_t bytes = static_cast<std::size_t>(round_up(static_cast<index_t>(count * sizeof(T)), 64));
    if (bytes > n_) {
      std::free(p_);
      p_ = std::aligned_alloc(64, bytes);
      if (!p_) throw Error(code::kMemory, "out of memory allocating " + std::to_string(bytes) + " bytes of GEMM workspace");
      n_ = bytes;
    }
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  std::size_t n_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Micro-kernels: C[MR x NR] (ldc) += sum_p Ap[p*MR + r] * Bp[p*NR + c].

template <typename T>
void kernel_portable(index_t kc, const T* __restrict A, const T* __restrict B, T* __restrict C, index_t ldc) {
  // Two passes over NR/2 columns keep the accumulators in registers on 16-register SIMD ISAs
  // (SSE2, NEON); the compiler vectorises the c loops.
  constexpr int MR = Blk<T>::MR, NR = Blk<T>::NR, H = NR / 2;
  for (int half = 0; half < 2; ++half) {
    T acc[MR][H];
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < H; ++c) acc[r][c] = 0;
    const T* a = A;
    const T* b = B + half * H;
    for (index_t p = 0; p < kc; ++p, a += MR, b += NR) {
      for (int r = 0; r < MR; ++r) {
        const T av = a[r];
        for (int c = 0; c < H; ++c) acc[r][c] += av * b[c];
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < H; ++c) C[r * ldc + half * H + c] += acc[r][c];
  }
}

#if defined(QNN_X86)
__attribute__((target("avx2,fma"))) void kernel_f32_avx2(index_t kc, const float* __restrict A,
                                                          const float* __restrict B, float* __restrict C,
                                                          index_t ldc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (index_t p = 0; p < kc; ++p) {
    __m256 b0 = _mm256_loadu_ps(B);
    __m256 b1 = _mm256_loadu_ps(B + 8);
    __m256 a;
    a = _mm256_broadcast_ss(A + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(A + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(A + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(A + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(A + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(A + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    A += 6;
    B += 16;
  }
#define QNN_ST(r, x0, x1)                                                              \
  _mm256_storeu_ps(C + (r) * ldc, _mm256_add_ps(_mm256_loadu_ps(C + (r) * ldc), x0)); \
  _mm256_storeu_ps(C + (r) * ldc + 8, _mm256_add_ps(_mm256_loadu_ps(C + (r) * ldc + 8), x1));
  QNN_ST(0, c00, c01) QNN_ST(1, c10, c11) QNN_ST(2, c20, c21)
  QNN_ST(3, c30, c31) QNN_ST(4, c40, c41) QNN_ST(5, c50, c51)
#undef QNN_ST
}

__attribute__((target("avx2,fma"))) void kernel_f64_avx2(index_t kc, const double* __restrict A,
                                                          const double* __restrict B, double* __restrict C,
                                                          index_t ldc) {
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
  __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
  __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
  __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
  __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
  for (index_t p = 0; p < kc; ++p) {
    __m256d b0 = _mm256_loadu_pd(B);
    __m256d b1 = _mm256_loadu_pd(B + 4);
    __m256d a;
    a = _mm256_broadcast_sd(A + 0); c00 = _mm256_fmadd_pd(a, b0, c00); c01 = _mm256_fmadd_pd(a, b1, c01);
    a = _mm256_broadcast_sd(A + 1); c10 = _mm256_fmadd_pd(a, b0, c10); c11 = _mm256_fmadd_pd(a, b1, c11);
    a = _mm256_broadcast_sd(A + 2); c20 = _mm256_fmadd_pd(a, b0, c20); c21 = _mm256_fmadd_pd(a, b1, c21);
    a = _mm256_broadcast_sd(A + 3); c30 = _mm256_fmadd_pd(a, b0, c30); c31 = _mm256_fmadd_pd(a, b1, c31);
    a = _mm256_broadcast_sd(A + 4); c40 = _mm256_fmadd_pd(a, b0, c40); c41 = _mm256_fmadd_pd(a, b1, c41);
    a = _mm256_broadcast_sd(A + 5); c50 = _mm256_fmadd_pd(a, b0, c50); c51 = _mm256_fmadd_pd(a, b1, c51);
    A += 6;
    B += 8;
  }
#define QNN_ST(r, x0, x1)                                                              \
  _mm256_storeu_pd(C + (r) * ldc, _mm256_add_pd(_mm256_loadu_pd(C + (r) * ldc), x0)); \
  _mm256_storeu_pd(C + (r) * ldc + 4, _mm256_add_pd(_mm256_loadu_pd(C + (r) * ldc + 4), x1));
  QNN_ST(0, c00, c01) QNN_ST(1, c10, c11) QNN_ST(2, c20, c21)
  QNN_ST(3, c30, c31) QNN_ST(4, c40, c41) QNN_ST(5, c50, c51)
#undef QNN_ST
}
#endif

enum class KernelChoice { kPortable, kAvx2 };

KernelChoice detect_kernel() {
  const char* env = std::getenv("QNN_CPU_KERNEL");
  bool avx2 = cpu_has_avx2_fma();
  if (env && std::string(env) == "portable") return KernelChoice::kPortable;
  return avx2 ? KernelChoice::kAvx2 : KernelChoice::kPortable;
}

KernelChoice kernel_choice() {
  static const KernelChoice choice = detect_kernel();
  return choice;
}

template <typename T>
using KernelFn = void (*)(index_t, const T*, const T*, T*, index_t);

template <typename T>
KernelFn<T> pick_kernel();
template <>
KernelFn<float> pick_kernel<float>() {
#if defined(QNN_X86)
  if (kernel_choice() == KernelChoice::kAvx2) return kernel_f32_avx2;
#endif
  return kernel_portable<float>;
}
template <>
KernelFn<double> pick_kernel<double>() {
#if defined(QNN_X86)
  if (kernel_choice() == KernelChoice::kAvx2) return kernel_f64_avx2;
#endif
  return kernel_portable<double>;
}

// ---------------------------------------------------------------------------------------------
// Packing. K is the concatenation of the segments; seg_start[s] is the global K offset of s.

template <typename T, typename TA>
void pack_a_piece(const GemmSeg& s, index_t i0, index_t mc, index_t M, index_t lp0, index_t len, T alpha,
                  T* dst, index_t kc) {
  constexpr int MR = Blk<T>::MR;
  const TA* A = static_cast<const TA*>(s.a);
  for (index_t ir = 0; ir < mc; ir += MR) {
    T* panel = dst + ir * kc;  // panel ir holds kc groups of MR values
    int rows = static_cast<int>(std::min<index_t>(MR, std::min(mc, M - i0) - ir));
    if (s.trans_a == Trans::kT) {
      for (index_t p = 0; p < len; ++p) {
        const TA* src = A + (lp0 + p) * s.lda + i0 + ir;
        T* out = panel + p * MR;
        int r = 0;
        for (; r < rows; ++r) out[r] = alpha * static_cast<T>(src[r]);
        for (; r < MR; ++r) out[r] = 0;
      }
    } else {
      for (int r = 0; r < MR; ++r) {
        T* out = panel + r;
        if (r < rows) {
          const TA* src = A + (i0 + ir + r) * s.lda + lp0;
          for (index_t p = 0; p < len; ++p) out[p * MR] = alpha * static_cast<T>(src[p]);
        } else {
          for (index_t p = 0; p < len; ++p) out[p * MR] = 0;
        }
      }
    }
  }
}

template <typename T, typename TB>
void pack_b_piece(const GemmSeg& s, index_t j0, index_t nc, index_t N, index_t lp0, index_t len, T* dst,
                  index_t kc) {
  constexpr int NR = Blk<T>::NR;
  const TB* B = static_cast<const TB*>(s.b);
  for (index_t jr = 0; jr < nc; jr += NR) {
    T* panel = dst + jr * kc;
    int cols = static_cast<int>(std::min<index_t>(NR, std::min(nc, N - j0) - jr));
    for (index_t p = 0; p < len; ++p) {
      const TB* src = B + (lp0 + p) * s.ldb + j0 + jr;
      T* out = panel + p * NR;
      int c = 0;
      for (; c < cols; ++c) out[c] = static_cast<T>(src[c]);
      for (; c < NR; ++c) out[c] = 0;
    }
  }
}

// Visits the pieces of segments overlapping global K range [p0, p0 + kc).
template <typename F>
void for_pieces(const GemmSeg* segs, int nseg, const std::vector<index_t>& seg_start, index_t p0, index_t kc, F&& f) {
  for (int s = 0; s < nseg; ++s) {
    index_t a = std::max(p0, seg_start[s]);
    index_t b = std::min(p0 + kc, seg_start[s] + segs[s].k);
    if (a < b) f(segs[s], a - seg_start[s], b - a, a - p0);
  }
}

template <typename T>
void pack_a(const GemmSeg* segs, int nseg, const std::vector<index_t>& seg_start, index_t i0, index_t mc, index_t M,
            index_t p0, index_t kc, T* dst) {
  constexpr int MR = Blk<T>::MR;
  for_pieces(segs, nseg, seg_start, p0, kc, [&](const GemmSeg& s, index_t lp0, index_t len, index_t off) {
    // The piece starts `off` rows into each panel: shift the destination by off * MR.
    T* d = dst + off * MR;
    T alpha = static_cast<T>(s.alpha);
    if (s.a_f64) pack_a_piece<T, double>(s, i0, mc, M, lp0, len, alpha, d, kc);
    else pack_a_piece<T, float>(s, i0, mc, M, lp0, len, alpha, d, kc);
  });
}

template <typename T>
void pack_b(const GemmSeg* segs, int nseg, const std::vector<index_t>& seg_start, index_t j0, index_t nc, index_t N,
            index_t p0, index_t kc, T* dst) {
  constexpr int NR = Blk<T>::NR;
  for_pieces(segs, nseg, seg_start, p0, kc, [&](const GemmSeg& s, index_t lp0, index_t len, index_t off) {
    T* d = dst + off * NR;
    if (s.b_f64) pack_b_piece<T, double>(s, j0, nc, N, lp0, len, d, kc);
    else pack_b_piece<T, float>(s, j0, nc, N, lp0, len, d, kc);
  });
}

}  // namespace

bool cpu_has_avx2_fma() {
#if defined(QNN_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool use_avx2() { return kernel_choice() == KernelChoice::kAvx2; }

const char* gemm_kernel_name() { return kernel_choice() == KernelChoice::kAvx2 ? "avx2-fma" : "portable"; }

template <typename T>
void gemm(index_t M, index_t N, const GemmSeg* segs, int nseg, T* C, index_t ldc, const GemmOptions& opt) {
  constexpr int MR = Blk<T>::MR, NR = Blk<T>::NR, KC = Blk<T>::KC, MC = Blk<T>::MC, NC = Blk<T>::NC;
  if (M <= 0 || N <= 0) return;
  std::vector<index_t> seg_start(nseg);
  index_t K = 0;
  for (int s = 0; s < nseg; ++s) {
    seg_start[s] = K;
    K += segs[s].k;
  }
  if (K <= 0) return;
  require(!opt.lower_only || M == N, code::kInternal, "gemm lower_only needs a square C");
  const KernelFn<T> kernel = pick_kernel<T>();
  const int threads = std::max(1, opt.threads);

  // Task grid: ~4 tasks per thread (8 for lower-only, where tasks on the diagonal are half empty
  // and those above it are skipped). Every row chunk re-packs B and every column chunk re-packs A,
  // so pick the split (n_rc x n_cc) that packs the fewest values: n_rc * N + n_cc * M.
  const index_t target = (opt.lower_only ? 8 : 4) * static_cast<index_t>(threads);
  const index_t max_rc = ceil_div(M, MR), min_cc = ceil_div(N, NC), max_cc = ceil_div(N, NR);
  index_t best_rc = 1, best_cc = min_cc;
  double best_cost = -1;
  for (index_t cc = min_cc; cc <= std::max(min_cc, std::min(max_cc, target)); ++cc) {
    index_t rc = std::min(max_rc, std::max<index_t>(1, ceil_div(target, cc)));
    double cost = static_cast<double>(rc) * N + static_cast<double>(cc) * M;
    if (best_cost < 0 || cost < best_cost) { best_cost = cost; best_rc = rc; best_cc = cc; }
  }
  const index_t nct = round_up(ceil_div(N, best_cc), NR);
  const index_t n_cc = ceil_div(N, nct);
  index_t rows_per = round_up(ceil_div(M, best_rc), MR);
  if (rows_per > MC && rows_per % MC != 0) rows_per = round_up(rows_per, MC);
  const index_t n_rc = ceil_div(M, rows_per);

  std::vector<AlignedBuffer> abuf(threads), bbuf(threads);
  parallel_for(n_rc * n_cc, threads, [&](index_t task, int worker) {
    const index_t rc = task / n_cc, cc = task % n_cc;
    const index_t r0 = rc * rows_per, r1 = std::min(M, r0 + rows_per);
    const index_t c0 = cc * nct, c1 = std::min(N, c0 + nct);
    if (opt.lower_only && c0 > r1 - 1) return;
    const index_t nc = c1 - c0;
    T* Bp = bbuf[worker].get<T>(static_cast<std::size_t>(round_up(nc, NR) * KC));
    T* Ap = abuf[worker].get<T>(static_cast<std::size_t>(round_up(std::min<index_t>(MC, r1 - r0), MR) * KC));
    alignas(64) T tile[MR * NR];
    for (index_t p0 = 0; p0 < K; p0 += KC) {
      const index_t kc = std::min<index_t>(KC, K - p0);
      pack_b<T>(segs, nseg, seg_start, c0, nc, N, p0, kc, Bp);
      for (index_t i0 = r0; i0 < r1; i0 += MC) {
        const index_t mc = std::min<index_t>(MC, r1 - i0);
        if (opt.lower_only && c0 > i0 + mc - 1) continue;
        pack_a<T>(segs, nseg, seg_start, i0, mc, M, p0, kc, Ap);
        for (index_t jr = 0; jr < nc; jr += NR) {
          const index_t jn = std::min<index_t>(NR, nc - jr);
          for (index_t ir = 0; ir < mc; ir += MR) {
            const index_t im = std::min<index_t>(MR, mc - ir);
            if (opt.lower_only && c0 + jr > i0 + ir + im - 1) continue;
            T* cptr = C + (i0 + ir) * ldc + c0 + jr;
            if (im == MR && jn == NR) {
              kernel(kc, Ap + ir * kc, Bp + jr * kc, cptr, ldc);
            } else {
              std::memset(tile, 0, sizeof(tile));
              kernel(kc, Ap + ir * kc, Bp + jr * kc, tile, NR);
              for (index_t r = 0; r < im; ++r)
                for (index_t c = 0; c < jn; ++c) cptr[r * ldc + c] += tile[r * NR + c];
            }
          }
        }
      }
    }
  });
}

template <typename T>
void mirror_lower(T* C, index_t n, index_t ldc) {
  constexpr index_t B = 64;
  for (index_t ib = 0; ib < n; ib += B)
    for (index_t jb = ib; jb < n; jb += B)
      for (index_t i = ib; i < std::min(n, ib + B); ++i)
        for (index_t j = std::max(jb, i + 1); j < std::min(n, jb + B); ++j) C[i * ldc + j] = C[j * ldc + i];
}

template void gemm<float>(index_t, index_t, const GemmSeg*, int, float*, index_t, const GemmOptions&);
template void gemm<double>(index_t, index_t, const GemmSeg*, int, double*, index_t, const GemmOptions&);
template void mirror_lower<float>(float*, index_t, index_t);
template void mirror_lower<double>(double*, index_t, index_t);

}  // namespace qnn
