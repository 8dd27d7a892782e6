// Internal interface between the host code of the CUDA backend (cuda_backend.cc) and its kernels
// (gemm.cu, kernels.cu). Only these three translation units include it.
//
// Launchers are host functions that enqueue kernels on the caller's stream and return the launch
// status; they never throw (an exception must not leave a half-enqueued sequence behind), never
// synchronise, and read device pointers that the caller keeps alive until the stream has drained.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "qnn/common.h"

namespace qnn {
namespace cuda {
namespace dev {

// ---- GEMM ---------------------------------------------------------------------------------------

// A matrix operand in device memory, float or double elements, row stride ld.
struct Mat {
  const void* p = nullptr;
  bool f64 = false;
  index_t ld = 0;
};
inline Mat mat(const float* p, index_t ld) { return Mat{p, false, ld}; }
inline Mat mat(const double* p, index_t ld) { return Mat{p, true, ld}; }

// alpha * op(A) * B with op(A) M x k (trans_a: A is stored k x M, A[p * ld + i]; else A[i * ld + p])
// and B k x N (B[p * ld + j]).
struct Seg {
  Mat a;
  bool trans_a = false;
  Mat b;
  index_t k = 0;
  double alpha = 1.0;
};

// C[M x N] (ldc) += sum of up to two segments (concatenated along K), in T (float: fp32 FMA,
// double: fp64). batch > 1 repeats the product for batch b with A, B, C advanced by b * a_stride,
// b * b_stride, b * c_stride elements (conv groups). lower: only elements with column <= row are
// written (SYRK-style; the strict upper triangle of C is left untouched). Requires M == N.
template <typename T>
struct Gemm {
  index_t M = 0, N = 0;
  Seg seg[2];
  int nseg = 1;
  T* C = nullptr;
  index_t ldc = 0;
  index_t batch = 1, a_stride = 0, b_stride = 0, c_stride = 0;
  bool lower = false;
};

// Elements of split-K scratch that gemm() uses for this shape (0 when it does not split K). The
// split count depends on the shape only (never on the device), so results are reproducible across
// GPUs; it is nondecreasing in K. Callers size the scratch as the maximum over their products.
index_t gemm_scratch_elems(index_t M, index_t N, index_t K, index_t batch);

// Enqueues C += ... on `stream`. `scratch` (scratch_elems elements of T) holds split-K partial
// products; a split that would not fit falls back to fewer splits. Deterministic: partial sums are
// added in split order by one thread per element.
template <typename T>
cudaError_t gemm(const Gemm<T>& g, T* scratch, index_t scratch_elems, cudaStream_t stream) noexcept;

// Several products of one shape (the Gram update's G, H and K: same M, N, K, batch, strides) in as
// few launches as possible: one launch of the fast float kernel when it applies to all of them and
// K is not split; otherwise one gemm() each. Same results as calling gemm() for each in order.
template <typename T>
cudaError_t gemm_many(const Gemm<T>* gs, int n, T* scratch, index_t scratch_elems, cudaStream_t stream) noexcept;

// Kernel choice for benchmarks and tests: 0 (default) uses the fast float kernel where it applies,
// 1 forces the general kernel everywhere. Not thread-safe; set it before enqueueing work.
void set_gemm_kernel(int mode) noexcept;

// ---- im2col -------------------------------------------------------------------------------------

// Patch rows [row0, row0 + nrows) of a batch (global row numbering, rows_per_image per image) from
// the images [img0, img0 + n) held in x, with exactly the semantics of qnn::im2col_rows.
struct Im2col {
  const float* x = nullptr;       // NHWC images img0.. of the batch
  index_t img0 = 0;
  const std::int32_t* pos = nullptr;  // positions of images img0.. (rows_per_image each); null: all, in order
  index_t row0 = 0, nrows = 0;
  float* dst = nullptr;           // nrows x cols
  index_t h = 0, w = 0, c = 0;
  int kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  index_t pad_top = 0, pad_left = 0, ow = 1, rows_per_image = 1;
  int cols = 0, cols_per_group = 0, ch_per_group = 0;
  bool chw = false;
};
cudaError_t im2col(const Im2col& a, cudaStream_t stream) noexcept;

// ---- GPFQ block sweep ---------------------------------------------------------------------------

// The quantizer of qnn/quantizer.h in device-friendly form.
struct Quant {
  const float* levels = nullptr;  // device, ascending
  int n = 0;
  int kind = 0;  // QuantizerKind
  bool tie_upper = false;
  double lambda = 0, delta = 0;
  int k_max = 0;
};

// One block of the GPFQ sweep (gpfq.cc sweep_block): columns t0 .. t0 + bs - 1 for all n1 neurons.
template <typename T>
struct Sweep {
  index_t n1 = 0, t0 = 0;
  int bs = 0;
  const T* R = nullptr;      // bs x n1: c_t without the in-block terms
  const T* G = nullptr;      // Gb = G + t0 * ldg + t0 (lower triangle and diagonal read)
  index_t ldg = 0;
  const T* H = nullptr;      // Hb; may equal G
  index_t ldh = 0;
  const float* w = nullptr;  // n0 x n1
  float* q = nullptr;        // n0 x n1 (rows of earlier blocks read, this block's rows written)
  std::int32_t* codes = nullptr;
  std::uint32_t* rng = nullptr;  // per-neuron Rng32 states, advanced in place
  Quant quant;
  bool dead_zero = false;  // DeadRule::kZero
  bool shortcut = false;
  bool stage = false;      // copy the Gb / Hb lower triangles into shared memory
};

// Dynamic shared memory a staged sweep block needs.
template <typename T>
std::size_t sweep_smem_bytes(int bs, bool h_is_g) {
  return static_cast<std::size_t>(bs) * (bs + 1) / 2 * sizeof(T) * (h_is_g ? 1 : 2);
}
template <typename T>
cudaError_t sweep(const Sweep<T>& a, int threads, cudaStream_t stream) noexcept;

// ---- small helpers ------------------------------------------------------------------------------

// Copies the lower triangle of each of the batch n x n matrices (contiguous) to its upper triangle.
template <typename T>
cudaError_t mirror_lower(T* C, index_t n, index_t batch, cudaStream_t stream) noexcept;

// acc[j] += sum over t in [0, rows) of scale * A[t][j] * B[t][j], t in order (one thread per j).
cudaError_t col_dot(double* acc, Mat A, Mat B, index_t rows, index_t n, double scale, cudaStream_t stream) noexcept;

// part[c][j] = sum of A[r][j]^2 over rows r of chunk c (kSqChunk rows each, in order), for the
// rows x n matrix A; then acc[j] += part[0][j] + part[1][j] + ... (add_chunks).
constexpr index_t kSqChunk = 1024;
cudaError_t col_sq_chunks(double* part, Mat A, index_t rows, index_t n, cudaStream_t stream) noexcept;
cudaError_t add_chunks(double* acc, const double* part, index_t chunks, index_t n, cudaStream_t stream) noexcept;

// D[i] = double(w[i]) - double(q[i]).
cudaError_t diff_f64(double* D, const float* w, const float* q, index_t n, cudaStream_t stream) noexcept;

// Allows the sweep kernels up to max_dynamic_smem bytes of dynamic shared memory (device opt-in
// limit); called once per process from the lazy device query.
cudaError_t configure_kernels(int max_dynamic_smem) noexcept;
// Fails with cudaErrorNoKernelImageForDevice (or similar) when this build has no code the current
// device can run.
cudaError_t probe_kernels() noexcept;

}  // namespace dev
}  // namespace cuda
}  // namespace qnn
