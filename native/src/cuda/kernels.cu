// Non-GEMM kernels of the CUDA backend: device im2col, the GPFQ block sweep, lower-to-upper
// mirroring and the column reductions of the error report. Launchers follow device.cuh.
#include <algorithm>
#include <climits>

#include "device.cuh"
#include "quantizer.cuh"

namespace qnn {
namespace cuda {
namespace dev {
namespace {

constexpr double kDeadNorm2 = 1e-32;  // ||Xq_t|| < 1e-16 (gpfq.cc)
constexpr double kShortcut = 1e-10;   // variant E threshold (gpfq.cc)
constexpr int kSweepMaxThreads = 256;

__host__ __device__ __forceinline__ index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

template <typename T>
__device__ __forceinline__ T load_as(const Mat& m, index_t i) {
  return m.f64 ? static_cast<T>(static_cast<const double*>(m.p)[i]) : static_cast<T>(static_cast<const float*>(m.p)[i]);
}

// Round-to-nearest arithmetic that nvcc may not contract into FMA (the CPU sweep is built without
// FMA contraction on its baseline target).
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }

// dst[r][col] = x[image][iy][ix][channel] of patch row row0 + r (0 in the padding): one block per
// patch row (grid-stride), threads over its columns.
__global__ void im2col_kernel(const Im2col a) {
  const int kk = a.kh * a.kw;
  for (index_t r = blockIdx.x; r < a.nrows; r += gridDim.x) {
    const index_t grow = a.row0 + r;
    const index_t n = grow / a.rows_per_image;
    const index_t within = grow - n * a.rows_per_image;
    const index_t li = n - a.img0;
    const index_t p = a.pos ? static_cast<index_t>(a.pos[li * a.rows_per_image + within]) : within;
    const index_t oy = p / a.ow, ox = p - oy * a.ow;
    const float* img = a.x + li * a.h * a.w * a.c;
    float* out = a.dst + r * a.cols;
    for (int col = threadIdx.x; col < a.cols; col += blockDim.x) {
      const int gi = col / a.cols_per_group, in = col - gi * a.cols_per_group;
      int k, ch;
      if (a.chw) {
        ch = in / kk;
        k = in - ch * kk;
      } else {
        k = in / a.ch_per_group;
        ch = in - k * a.ch_per_group;
      }
      const int ky = k / a.kw, kx = k - ky * a.kw;
      const index_t iy = oy * a.sh + static_cast<index_t>(ky) * a.dh - a.pad_top;
      const index_t ix = ox * a.sw + static_cast<index_t>(kx) * a.dw - a.pad_left;
      float v = 0.0f;
      if (iy >= 0 && iy < a.h && ix >= 0 && ix < a.w)
        v = __ldg(img + (iy * a.w + ix) * a.c + static_cast<index_t>(gi) * a.ch_per_group + ch);
      out[col] = v;
    }
  }
}

// GPFQ block sweep, one thread per neuron j, t sequential:
//   c_t = R[t] + sum_{s<t} (Gb[t][s] w_s - Hb[t][s] q_s)   (the push updates of gpfq.cc, pulled)
//   q_t = Q((c_t + Gb[t][t] w_t) / Hb[t][t]), with the dead-input and shortcut rules.
template <typename T>
__global__ void __launch_bounds__(kSweepMaxThreads) sweep_kernel(const Sweep<T> a) {
  extern __shared__ __align__(16) unsigned char sweep_smem[];
  const bool h_is_g = a.H == a.G && a.ldh == a.ldg;
  T* sg = reinterpret_cast<T*>(sweep_smem);
  T* sh = h_is_g ? sg : sg + static_cast<index_t>(a.bs) * (a.bs + 1) / 2;
  if (a.stage) {  // uniform over the block
    for (int r = 0; r < a.bs; ++r) {
      const index_t off = static_cast<index_t>(r) * (r + 1) / 2;
      for (int c = threadIdx.x; c <= r; c += blockDim.x) {
        sg[off + c] = a.G[r * a.ldg + c];
        if (!h_is_g) sh[off + c] = a.H[r * a.ldh + c];
      }
    }
    __syncthreads();
  }
  const index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= a.n1) return;  // no barrier below
  std::uint32_t state = a.rng[j];
  for (int t = 0; t < a.bs; ++t) {
    const T* grow = a.stage ? sg + static_cast<index_t>(t) * (t + 1) / 2 : a.G + t * a.ldg;
    const T* hrow = a.stage ? sh + static_cast<index_t>(t) * (t + 1) / 2 : a.H + t * a.ldh;
    const index_t at = (a.t0 + t) * a.n1 + j;
    const double h = static_cast<double>(hrow[t]);
    const double g = static_cast<double>(grow[t]);
    const float wt = __ldg(a.w + at);
    int idx;
    if (!(h > kDeadNorm2)) {
      idx = a.dead_zero ? -1 : quantize(a.quant, 0.0, state);
    } else {
      T c = a.R[static_cast<index_t>(t) * a.n1 + j];
      for (int s = 0; s < t; ++s) {
        const index_t as = (a.t0 + s) * a.n1 + j;
        c = add_rn(c, sub_rn(mul_rn(grow[s], static_cast<T>(__ldg(a.w + as))), mul_rn(hrow[s], static_cast<T>(a.q[as]))));
      }
      const double cd = static_cast<double>(c);
      if (a.shortcut && fabs(cd) < kShortcut) {
        idx = quantize(a.quant, static_cast<double>(wt), state);
      } else {
        idx = quantize(a.quant, __ddiv_rn(__dadd_rn(cd, __dmul_rn(g, static_cast<double>(wt))), h), state);
      }
    }
    a.q[at] = idx < 0 ? 0.0f : a.quant.levels[idx];
    a.codes[at] = idx;
  }
  a.rng[j] = state;
}

// C_z[i][j] = C_z[j][i] for i < j, one 32 x 32 upper tile (bi, bj), bj >= bi, per block.
template <typename T>
__global__ void mirror_kernel(T* C, index_t n, index_t batch0) {
  __shared__ T tile[32][33];
  const index_t bi = blockIdx.y, bj = blockIdx.x;
  if (bj < bi) return;  // whole block
  T* M = C + (batch0 + blockIdx.z) * n * n;
  for (int y = threadIdx.y; y < 32; y += blockDim.y) {
    const index_t r = bj * 32 + y, c = bi * 32 + threadIdx.x;
    if (r < n && c < n) tile[y][threadIdx.x] = M[r * n + c];
  }
  __syncthreads();
  for (int y = threadIdx.y; y < 32; y += blockDim.y) {
    const index_t r = bi * 32 + y, c = bj * 32 + threadIdx.x;
    if (r < n && c < n && c > r) M[r * n + c] = tile[threadIdx.x][y];
  }
}

// acc[j] += sum_t scale * A[t][j] * B[t][j], in t order.
__global__ void col_dot_kernel(double* acc, const Mat A, const Mat B, index_t rows, index_t n, double scale) {
  const index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  double s = acc[j];
  for (index_t t = 0; t < rows; ++t)
    s = __dadd_rn(s, __dmul_rn(__dmul_rn(scale, load_as<double>(A, t * A.ld + j)), load_as<double>(B, t * B.ld + j)));
  acc[j] = s;
}

// part[c][j] = sum over the rows of chunk c of A[r][j]^2, in row order.
__global__ void col_sq_kernel(double* part, const Mat A, index_t rows, index_t n) {
  const index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  const index_t chunks = ceil_div(rows, kSqChunk);
  for (index_t c = blockIdx.y; c < chunks; c += gridDim.y) {
    const index_t r1 = (c + 1) * kSqChunk < rows ? (c + 1) * kSqChunk : rows;
    double s = 0.0;
    for (index_t r = c * kSqChunk; r < r1; ++r) {
      const double v = load_as<double>(A, r * A.ld + j);
      s = __dadd_rn(s, __dmul_rn(v, v));
    }
    part[c * n + j] = s;
  }
}

// acc[j] += part[0][j] + part[1][j] + ..., one addition at a time in chunk order.
__global__ void add_chunks_kernel(double* acc, const double* part, index_t chunks, index_t n) {
  const index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  double s = acc[j];
  for (index_t c = 0; c < chunks; ++c) s = __dadd_rn(s, part[c * n + j]);
  acc[j] = s;
}

// D[i] = w[i] - q[i] in double.
__global__ void diff_kernel(double* D, const float* w, const float* q, index_t n) {
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<index_t>(gridDim.x) * blockDim.x)
    D[i] = __dsub_rn(static_cast<double>(w[i]), static_cast<double>(q[i]));
}

unsigned grid_for(index_t items, int threads, index_t cap = 65535) {
  return static_cast<unsigned>(std::max<index_t>(1, std::min(ceil_div(items, threads), cap)));
}

}  // namespace

cudaError_t im2col(const Im2col& a, cudaStream_t stream) noexcept {
  if (a.nrows <= 0 || a.cols <= 0) return cudaSuccess;
  const int threads = a.cols >= 256 ? 256 : (a.cols >= 128 ? 128 : 64);
  im2col_kernel<<<static_cast<unsigned>(std::min<index_t>(a.nrows, 1 << 20)), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t sweep(const Sweep<T>& a, int threads, cudaStream_t stream) noexcept {
  if (a.n1 <= 0 || a.bs <= 0) return cudaSuccess;
  if (threads < 1 || threads > kSweepMaxThreads) return cudaErrorInvalidValue;
  const bool h_is_g = a.H == a.G && a.ldh == a.ldg;
  const std::size_t smem = a.stage ? sweep_smem_bytes<T>(a.bs, h_is_g) : 0;
  const index_t blocks = ceil_div(a.n1, threads);
  if (blocks > INT_MAX) return cudaErrorInvalidConfiguration;
  sweep_kernel<T><<<static_cast<unsigned>(blocks), threads, smem, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t mirror_lower(T* C, index_t n, index_t batch, cudaStream_t stream) noexcept {
  if (n <= 1 || batch <= 0) return cudaSuccess;
  const index_t tiles = ceil_div(n, 32);
  if (tiles > 65535) return cudaErrorInvalidConfiguration;
  for (index_t b0 = 0; b0 < batch; b0 += 65535) {
    const index_t nb = std::min<index_t>(65535, batch - b0);
    mirror_kernel<T><<<dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(tiles), static_cast<unsigned>(nb)),
                       dim3(32, 8), 0, stream>>>(C, n, b0);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t col_dot(double* acc, Mat A, Mat B, index_t rows, index_t n, double scale, cudaStream_t stream) noexcept {
  if (n <= 0) return cudaSuccess;
  col_dot_kernel<<<grid_for(n, 128, INT_MAX), 128, 0, stream>>>(acc, A, B, rows, n, scale);
  return cudaGetLastError();
}

cudaError_t col_sq_chunks(double* part, Mat A, index_t rows, index_t n, cudaStream_t stream) noexcept {
  if (n <= 0 || rows <= 0) return cudaSuccess;
  const dim3 grid(grid_for(n, 128, INT_MAX), static_cast<unsigned>(std::min<index_t>(ceil_div(rows, kSqChunk), 65535)));
  col_sq_kernel<<<grid, 128, 0, stream>>>(part, A, rows, n);
  return cudaGetLastError();
}

cudaError_t add_chunks(double* acc, const double* part, index_t chunks, index_t n, cudaStream_t stream) noexcept {
  if (n <= 0 || chunks <= 0) return cudaSuccess;
  add_chunks_kernel<<<grid_for(n, 128, INT_MAX), 128, 0, stream>>>(acc, part, chunks, n);
  return cudaGetLastError();
}

cudaError_t diff_f64(double* D, const float* w, const float* q, index_t n, cudaStream_t stream) noexcept {
  if (n <= 0) return cudaSuccess;
  diff_kernel<<<grid_for(n, 256), 256, 0, stream>>>(D, w, q, n);
  return cudaGetLastError();
}

cudaError_t configure_kernels(int max_dynamic_smem) noexcept {
  cudaError_t e = cudaFuncSetAttribute(sweep_kernel<float>, cudaFuncAttributeMaxDynamicSharedMemorySize, max_dynamic_smem);
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(sweep_kernel<double>, cudaFuncAttributeMaxDynamicSharedMemorySize, max_dynamic_smem);
  return e;
}

cudaError_t probe_kernels() noexcept {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, im2col_kernel);
}

template cudaError_t sweep<float>(const Sweep<float>&, int, cudaStream_t) noexcept;
template cudaError_t sweep<double>(const Sweep<double>&, int, cudaStream_t) noexcept;
template cudaError_t mirror_lower<float>(float*, index_t, index_t, cudaStream_t) noexcept;
template cudaError_t mirror_lower<double>(double*, index_t, index_t, cudaStream_t) noexcept;

}  // namespace dev
}  // namespace cuda
}  // namespace qnn
