// Tiled GEMM / SYRK for the CUDA backend (Gram accumulation and the GPFQ block products).
//
// One kernel per accumulation type: 64 x 64 output tiles, 256 threads, 4 x 4 register blocking
// (rows ty + 16 a, columns tx + 16 b, so shared-memory reads of B are conflict-free and A reads are
// broadcasts), K in shared-memory slices of 16 (float) or 8 (double) with the next slice prefetched
// into registers while the current one is multiplied. Operands may be float or double (converted
// to T when staged), which covers X / W (float) against G, H, U, Q (T). Small outputs with long K
// split K over blocks into scratch; a second kernel adds the partial sums in split order, so the
// result does not depend on scheduling (no atomics).
//
// The Gram products (float operands, fp32 accumulation, op(A) = A^T stored K-major, alpha = 1,
// 16-byte aligned rows) take a faster kernel: 128 x 128 tiles, 8 x 8 outputs per thread in two
// 4 x 4 quadrants (float4 shared-memory reads, conflict-free), float4 global loads, two shared
// slices of K = 8 (one barrier per slice), and up to three products (G, H, K) in one launch so
// the lower-triangle products fill the GPU. Each output is the same chain of fmaf over k in the
// same order as in the general kernel, with the same split-K policy, so both kernels give the
// same bits (up to the sign of an exact zero).
#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>

#include "device.cuh"

namespace qnn {
namespace cuda {
namespace dev {
namespace {

constexpr int kBM = 64, kBN = 64, kThreads = 256;
// Split-K policy (shape-only, see gemm_scratch_elems).
constexpr index_t kTargetBlocks = 256;
constexpr index_t kMinSplitK = 256;
constexpr index_t kMaxSplits = 64;
constexpr index_t kMaxScratchElems = index_t{1} << 22;

template <typename T>
struct Cfg;
template <>
struct Cfg<float> {
  static constexpr int BK = 16;
};
template <>
struct Cfg<double> {
  static constexpr int BK = 8;
};

template <typename T>
struct Args {
  index_t M, N;
  Seg s0, s1;
  int nseg;
  index_t k0, ktot;  // K of segment 0; total K
  T* C;
  index_t ldc, c_stride, a_stride, b_stride;
  index_t batch0, nb;  // batches [batch0, batch0 + nb) in this launch
  int splits;
  index_t kps;  // K per split, a multiple of BK
  T* part;      // splits x nb x M x N partial products when splits > 1
  bool lower;
};

template <typename T>
__device__ __forceinline__ T load_as(const Mat& m, index_t i) {
  return m.f64 ? static_cast<T>(__ldg(static_cast<const double*>(m.p) + i))
               : static_cast<T>(__ldg(static_cast<const float*>(m.p) + i));
}

__device__ __forceinline__ float madd(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double madd(double a, double b, double c) { return fma(a, b, c); }

// Element (k, row) of alpha * op(A) over the concatenated segments; 0 outside [.., ke) x [.., M).
template <typename T>
__device__ __forceinline__ T a_elem(const Args<T>& g, index_t batch, index_t k, index_t ke, index_t row) {
  if (k >= ke || row >= g.M) return T(0);
  // Field-wise selects: no reference into the kernel's parameter space (that would force a copy).
  const bool second = g.nseg > 1 && k >= g.k0;
  const Mat m = second ? g.s1.a : g.s0.a;
  const bool trans = second ? g.s1.trans_a : g.s0.trans_a;
  const double alpha = second ? g.s1.alpha : g.s0.alpha;
  const index_t kk = second ? k - g.k0 : k;
  const index_t idx = batch * g.a_stride + (trans ? kk * m.ld + row : row * m.ld + kk);
  return static_cast<T>(alpha) * load_as<T>(m, idx);
}

template <typename T>
__device__ __forceinline__ T b_elem(const Args<T>& g, index_t batch, index_t k, index_t ke, index_t col) {
  if (k >= ke || col >= g.N) return T(0);
  const bool second = g.nseg > 1 && k >= g.k0;
  const Mat m = second ? g.s1.b : g.s0.b;
  const index_t kk = second ? k - g.k0 : k;
  return load_as<T>(m, batch * g.b_stride + kk * m.ld + col);
}

// C_tile (+)= sum_k op(A)[rows, k] B[k, cols] over this block's K range.
template <typename T>
__global__ void __launch_bounds__(kThreads) gemm_kernel(const Args<T> g) {
  constexpr int BK = Cfg<T>::BK;
  constexpr int A_PER = BK * kBM / kThreads;
  constexpr int B_PER = BK * kBN / kThreads;
  __shared__ T As[BK][kBM + 1];
  __shared__ T Bs[BK][kBN + 1];

  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const index_t m0 = static_cast<index_t>(blockIdx.x) * kBM, n0 = static_cast<index_t>(blockIdx.y) * kBN;
  if (g.lower && m0 + kBM <= n0) return;  // tile strictly above the diagonal (whole block leaves)
  const int split = static_cast<int>(blockIdx.z % g.splits);
  const index_t lb = blockIdx.z / g.splits;  // batch within this launch
  const index_t batch = g.batch0 + lb;
  const index_t kb = split * g.kps;
  const index_t ke = kb + g.kps < g.ktot ? kb + g.kps : g.ktot;
  const bool a_trans = g.s0.trans_a;  // staging layout only; each element uses its own segment's flag

  T acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = T(0);

  if (kb < ke) {  // uniform over the block
    T ra[A_PER], rb[B_PER];
    int ap[A_PER], ai[A_PER], bp[B_PER], bj[B_PER];
#pragma unroll
    for (int r = 0; r < A_PER; ++r) {
      const int e = tid + r * kThreads;
      ap[r] = a_trans ? e / kBM : e % BK;
      ai[r] = a_trans ? e % kBM : e / BK;
    }
#pragma unroll
    for (int r = 0; r < B_PER; ++r) {
      const int e = tid + r * kThreads;
      bp[r] = e / kBN;
      bj[r] = e % kBN;
    }
#pragma unroll
    for (int r = 0; r < A_PER; ++r) ra[r] = a_elem(g, batch, kb + ap[r], ke, m0 + ai[r]);
#pragma unroll
    for (int r = 0; r < B_PER; ++r) rb[r] = b_elem(g, batch, kb + bp[r], ke, n0 + bj[r]);

    for (index_t kt = kb; kt < ke; kt += BK) {
#pragma unroll
      for (int r = 0; r < A_PER; ++r) As[ap[r]][ai[r]] = ra[r];
#pragma unroll
      for (int r = 0; r < B_PER; ++r) Bs[bp[r]][bj[r]] = rb[r];
      __syncthreads();
      if (kt + BK < ke) {
#pragma unroll
        for (int r = 0; r < A_PER; ++r) ra[r] = a_elem(g, batch, kt + BK + ap[r], ke, m0 + ai[r]);
#pragma unroll
        for (int r = 0; r < B_PER; ++r) rb[r] = b_elem(g, batch, kt + BK + bp[r], ke, n0 + bj[r]);
      }
#pragma unroll
      for (int p = 0; p < BK; ++p) {
        T a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] = As[p][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j) b[j] = Bs[p][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = madd(a[i], b[j], acc[i][j]);
      }
      __syncthreads();
    }
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const index_t row = m0 + ty + 16 * i;
    if (row >= g.M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const index_t col = n0 + tx + 16 * j;
      if (col >= g.N || (g.lower && col > row)) continue;
      if (g.splits == 1) {
        g.C[batch * g.c_stride + row * g.ldc + col] += acc[i][j];
      } else {
        g.part[((split * g.nb + lb) * g.M + row) * g.N + col] = acc[i][j];
      }
    }
  }
}

// ---- fast float kernel for the Gram products ----------------------------------------------------

constexpr int kFT = 128, kFK = 8;
constexpr int kMaxJobs = 3;
constexpr index_t kFastMaxK = index_t{1} << 30;  // the kernel counts K-rows in int

struct FastJob {
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  bool lower = false;
};

// The general kernel's arguments (shape, strides, split-K, batch range; s0 gives lda / ldb) plus
// the operands of up to three products.
struct FastArgs {
  Args<float> g;
  int njobs;
  FastJob job[kMaxJobs];
};

__device__ __forceinline__ float4 load4(const float* p, bool ok) {
  return ok ? __ldg(reinterpret_cast<const float4*>(p)) : make_float4(0.f, 0.f, 0.f, 0.f);
}

__global__ void __launch_bounds__(kThreads, 2) gemm_f32_fast_kernel(const FastArgs f) {
  const Args<float>& g = f.g;
  __shared__ __align__(16) float As[2][kFK][kFT];
  __shared__ __align__(16) float Bs[2][kFK][kFT];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const index_t m0 = static_cast<index_t>(blockIdx.x) * kFT, n0 = static_cast<index_t>(blockIdx.y) * kFT;
  const int split = static_cast<int>(blockIdx.z % g.splits);
  const index_t rest = blockIdx.z / g.splits;
  const index_t lb = rest % g.nb;
  const int jb = static_cast<int>(rest / g.nb);
  const float* A = jb == 0 ? f.job[0].a : jb == 1 ? f.job[1].a : f.job[2].a;
  const float* B = jb == 0 ? f.job[0].b : jb == 1 ? f.job[1].b : f.job[2].b;
  float* C = jb == 0 ? f.job[0].c : jb == 1 ? f.job[1].c : f.job[2].c;
  const bool lower = jb == 0 ? f.job[0].lower : jb == 1 ? f.job[1].lower : f.job[2].lower;
  if (lower && m0 + kFT <= n0) return;  // tile strictly above the diagonal
  const index_t batch = g.batch0 + lb;
  const index_t kb = split * g.kps;
  const index_t ke = kb + g.kps < g.ktot ? kb + g.kps : g.ktot;

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

  if (kb < ke) {  // uniform over the block
    // Staging: thread tid loads 4 consecutive rows (A) / columns (B) of K-row lk of the slice.
    const int lk = tid >> 5, li = (tid & 31) * 4;
    const bool a_ok = m0 + li < g.M, b_ok = n0 + li < g.N;  // M, N are multiples of 4
    // pa / pb point at K-row kb + lk of this thread's columns and advance one slice per step.
    const float* pa = A + batch * g.a_stride + (a_ok ? m0 + li : 0) + (kb + lk) * g.s0.a.ld;
    const float* pb = B + batch * g.b_stride + (b_ok ? n0 + li : 0) + (kb + lk) * g.s0.b.ld;
    const index_t astep = kFK * g.s0.a.ld, bstep = kFK * g.s0.b.ld;
    int left = static_cast<int>(ke - kb) - lk;  // K-rows of this thread's column left, from pa on
    float4 ra = load4(pa, a_ok && left > 0);
    float4 rb = load4(pb, b_ok && left > 0);
    *reinterpret_cast<float4*>(&As[0][lk][li]) = ra;
    *reinterpret_cast<float4*>(&Bs[0][lk][li]) = rb;
    __syncthreads();
    int cur = 0;
    for (int kt = static_cast<int>(ke - kb); kt > 0; kt -= kFK) {
      const bool more = kt > kFK;
      if (more) {
        left -= kFK;
        pa += astep;
        pb += bstep;
        ra = load4(pa, a_ok && left > 0);
        rb = load4(pb, b_ok && left > 0);
      }
#pragma unroll
      for (int p = 0; p < kFK; ++p) {
        const float4 a0 = *reinterpret_cast<const float4*>(&As[cur][p][ty * 4]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[cur][p][64 + ty * 4]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][p][tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][p][64 + tx * 4]);
        const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      if (more) {
        *reinterpret_cast<float4*>(&As[cur ^ 1][lk][li]) = ra;
        *reinterpret_cast<float4*>(&Bs[cur ^ 1][lk][li]) = rb;
      }
      __syncthreads();
      cur ^= 1;
    }
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const index_t row = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
    if (row >= g.M) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const index_t col = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + (j - 4));
      if (col >= g.N || (lower && col > row)) continue;
      if (g.splits == 1) {
        C[batch * g.c_stride + row * g.ldc + col] += acc[i][j];
      } else {
        g.part[((split * g.nb + lb) * g.M + row) * g.N + col] = acc[i][j];
      }
    }
  }
}

// C[b][i][j] += part[0][b][i][j] + part[1][b][i][j] + ... (split order), lower triangle if asked.
template <typename T>
__global__ void splitk_reduce_kernel(const Args<T> g) {
  const index_t mn = g.M * g.N, total = g.nb * mn;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t lb = e / mn, rem = e - lb * mn, i = rem / g.N, j = rem - i * g.N;
    if (g.lower && j > i) continue;
    T s = g.part[e];
    for (int sp = 1; sp < g.splits; ++sp) s += g.part[sp * total + e];
    g.C[(g.batch0 + lb) * g.c_stride + i * g.ldc + j] += s;
  }
}

index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

index_t choose_splits(index_t M, index_t N, index_t K, index_t batch) {
  if (M <= 0 || N <= 0 || K <= 0 || batch <= 0) return 1;
  // Any factor this large already gives enough blocks (and the product below cannot overflow).
  if (ceil_div(M, kBM) >= kTargetBlocks || ceil_div(N, kBN) >= kTargetBlocks || batch >= kTargetBlocks) return 1;
  const index_t tiles = ceil_div(M, kBM) * ceil_div(N, kBN) * batch;
  if (tiles >= kTargetBlocks) return 1;
  index_t s = std::min({ceil_div(K, kMinSplitK), ceil_div(kTargetBlocks, tiles), kMaxSplits});
  const index_t per_split = M * N * batch;
  s = std::min(s, kMaxScratchElems / per_split);
  return std::max<index_t>(1, s);
}

}  // namespace

index_t gemm_scratch_elems(index_t M, index_t N, index_t K, index_t batch) {
  const index_t s = choose_splits(M, N, K, batch);
  return s > 1 ? s * M * N * batch : 0;
}

namespace {

// 0: the fast float kernel where it applies; 1: the general kernel only (set_gemm_kernel).
int g_kernel_mode = 0;

template <typename T>
bool fast_applies(const Gemm<T>&) {
  return false;
}
template <>
bool fast_applies(const Gemm<float>& d) {
  const Seg& s = d.seg[0];
  const auto aligned = [](const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; };
  return g_kernel_mode == 0 && d.nseg == 1 && !s.a.f64 && !s.b.f64 && s.trans_a && s.alpha == 1.0 && d.M % 4 == 0 &&
         d.N % 4 == 0 && s.a.ld % 4 == 0 && s.b.ld % 4 == 0 && d.a_stride % 4 == 0 && d.b_stride % 4 == 0 &&
         aligned(s.a.p) && aligned(s.b.p);
}

template <typename T>
Args<T> make_args(const Gemm<T>& d, index_t ktot, index_t splits, T* scratch) {
  Args<T> a;
  a.M = d.M;
  a.N = d.N;
  a.s0 = d.seg[0];
  a.s1 = d.nseg > 1 ? d.seg[1] : d.seg[0];
  a.nseg = d.nseg;
  a.k0 = d.seg[0].k;
  a.ktot = ktot;
  a.C = d.C;
  a.ldc = d.ldc;
  a.c_stride = d.c_stride;
  a.a_stride = d.a_stride;
  a.b_stride = d.b_stride;
  a.splits = static_cast<int>(splits);
  a.kps = ceil_div(ceil_div(ktot, splits), Cfg<T>::BK) * Cfg<T>::BK;
  a.part = scratch;
  a.lower = d.lower;
  return a;
}

template <typename T>
cudaError_t launch_reduce(Args<T>& a, cudaStream_t stream) {
  const index_t total = a.nb * a.M * a.N;
  const index_t blocks = std::min<index_t>(ceil_div(total, 256), 65535);
  splitk_reduce_kernel<T><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(a);
  return cudaGetLastError();
}

// Runs launch(b0, nb) for the batch ranges [b0, b0 + nb) of at most max_nb batches (grid z
// limit), each followed by the split-K reduction when a.splits > 1; a.batch0 / a.nb are set for
// both before each launch.
template <typename T, typename Launch>
cudaError_t over_batches(index_t batch, index_t max_nb, Args<T>& a, cudaStream_t stream, Launch launch) {
  for (index_t b0 = 0; b0 < batch; b0 += max_nb) {
    a.batch0 = b0;
    a.nb = std::min(max_nb, batch - b0);
    launch(b0, a.nb);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && a.splits > 1) e = launch_reduce(a, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

// One launch of the fast kernel for products ds[0 .. n) of one shape (n > 1 only without split-K).
cudaError_t launch_fast(const Gemm<float>* ds, int n, index_t ktot, index_t splits, float* scratch, cudaStream_t stream) {
  const Gemm<float>& d = ds[0];
  FastArgs f;
  // make_args: the general kernel's K per split (a multiple of its BK = 16, hence of 8), so both
  // kernels split K at the same points.
  f.g = make_args(d, ktot, splits, scratch);
  f.njobs = n;
  for (int j = 0; j < n; ++j) {
    f.job[j].a = static_cast<const float*>(ds[j].seg[0].a.p);
    f.job[j].b = static_cast<const float*>(ds[j].seg[0].b.p);
    f.job[j].c = ds[j].C;
    f.job[j].lower = ds[j].lower;
  }
  const index_t gx = ceil_div(d.M, kFT), gy = ceil_div(d.N, kFT);
  return over_batches(d.batch, 65535 / (splits * n), f.g, stream, [&](index_t, index_t nb) {
    gemm_f32_fast_kernel<<<dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(nb * splits * n)),
                           kThreads, 0, stream>>>(f);
  });
}

}  // namespace

void set_gemm_kernel(int mode) noexcept { g_kernel_mode = mode; }

template <typename T>
cudaError_t gemm(const Gemm<T>& d, T* scratch, index_t scratch_elems, cudaStream_t stream) noexcept {
  const index_t ktot = d.seg[0].k + (d.nseg > 1 ? d.seg[1].k : 0);
  if (d.M <= 0 || d.N <= 0 || d.batch <= 0 || ktot <= 0) return cudaSuccess;
  const index_t gx = ceil_div(d.M, kBM), gy = ceil_div(d.N, kBN);
  if (gx > INT_MAX || gy > 65535) return cudaErrorInvalidConfiguration;
  index_t splits = choose_splits(d.M, d.N, ktot, d.batch);
  if (splits > 1 && (scratch == nullptr || splits * d.M * d.N * d.batch > scratch_elems)) splits = 1;
  if constexpr (std::is_same<T, float>::value) {
    if (fast_applies(d) && ktot <= kFastMaxK) return launch_fast(&d, 1, ktot, splits, scratch, stream);
  }
  Args<T> a = make_args(d, ktot, splits, scratch);
  return over_batches(d.batch, 65535 / splits, a, stream, [&](index_t, index_t nb) {
    gemm_kernel<T><<<dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(nb * splits)),
                     kThreads, 0, stream>>>(a);
  });
}

template <typename T>
cudaError_t gemm_many(const Gemm<T>* ds, int n, T* scratch, index_t scratch_elems, cudaStream_t stream) noexcept {
  if constexpr (std::is_same<T, float>::value) {
    bool one = n > 1 && n <= kMaxJobs;
    for (int j = 0; one && j < n; ++j) {
      const Gemm<float>& d = ds[j];
      one = fast_applies(d) && d.M == ds[0].M && d.N == ds[0].N && d.seg[0].k == ds[0].seg[0].k && d.batch == ds[0].batch &&
            d.seg[0].a.ld == ds[0].seg[0].a.ld && d.seg[0].b.ld == ds[0].seg[0].b.ld && d.ldc == ds[0].ldc &&
            d.a_stride == ds[0].a_stride && d.b_stride == ds[0].b_stride && d.c_stride == ds[0].c_stride;
    }
    const Gemm<float>& d = ds[0];
    const index_t ktot = d.seg[0].k;
    if (one && d.M > 0 && d.N > 0 && d.batch > 0 && ktot > 0 && ktot <= kFastMaxK && ceil_div(d.N, kFT) <= 65535 &&
        choose_splits(d.M, d.N, ktot, d.batch) == 1)
      return launch_fast(ds, n, ktot, 1, scratch, stream);
  }
  for (int j = 0; j < n; ++j) {
    const cudaError_t e = gemm(ds[j], scratch, scratch_elems, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

template cudaError_t gemm<float>(const Gemm<float>&, float*, index_t, cudaStream_t) noexcept;
template cudaError_t gemm<double>(const Gemm<double>&, double*, index_t, cudaStream_t) noexcept;
template cudaError_t gemm_many<float>(const Gemm<float>*, int, float*, index_t, cudaStream_t) noexcept;
template cudaError_t gemm_many<double>(const Gemm<double>*, int, double*, index_t, cudaStream_t) noexcept;

}  // namespace dev
}  // namespace cuda
}  // namespace qnn
