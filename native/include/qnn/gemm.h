// Cache-blocked, packed GEMM (BLIS structure) with AVX2+FMA micro-kernels chosen at run time and a
// portable fallback. No BLAS dependency.
//
//   C[M x N] (ldc) += sum over segments s of  alpha_s * op_s(A_s)[M x k_s] * B_s[k_s x N]
//
// Segments concatenate along K, so e.g. U += X_B W_B - Xq_B Q_B is one pass over C. Inputs can be
// float or double and are converted while packing; C is float or double (the accumulation type).
#pragma once

#include "qnn/common.h"

namespace qnn {

enum class Trans : int { kN = 0, kT = 1 };

struct GemmSeg {
  Trans trans_a = Trans::kN;  // kN: A is M x k (A[i*lda + p]); kT: A is k x M (A[p*lda + i])
  const void* a = nullptr;
  bool a_f64 = false;
  index_t lda = 0;
  const void* b = nullptr;  // B is k x N (B[p*ldb + j])
  bool b_f64 = false;
  index_t ldb = 0;
  index_t k = 0;
  double alpha = 1.0;
};

inline GemmSeg seg(Trans t, const float* a, index_t lda, const float* b, index_t ldb, index_t k, double alpha = 1.0) {
  return GemmSeg{t, a, false, lda, b, false, ldb, k, alpha};
}
inline GemmSeg seg(Trans t, const double* a, index_t lda, const double* b, index_t ldb, index_t k, double alpha = 1.0) {
  return GemmSeg{t, a, true, lda, b, true, ldb, k, alpha};
}
inline GemmSeg seg(Trans t, const float* a, index_t lda, const double* b, index_t ldb, index_t k, double alpha = 1.0) {
  return GemmSeg{t, a, false, lda, b, true, ldb, k, alpha};
}
inline GemmSeg seg(Trans t, const double* a, index_t lda, const float* b, index_t ldb, index_t k, double alpha = 1.0) {
  return GemmSeg{t, a, true, lda, b, false, ldb, k, alpha};
}

struct GemmOptions {
  int threads = 1;
  // Only tiles that touch the lower triangle (column <= row, global indices) are computed; the
  // rest of C is left untouched (SYRK-style). Requires M == N.
  bool lower_only = false;
};

template <typename T>
void gemm(index_t M, index_t N, const GemmSeg* segs, int nseg, T* C, index_t ldc, const GemmOptions& opt);

// Copies the lower triangle of the n x n matrix C to its upper triangle.
template <typename T>
void mirror_lower(T* C, index_t n, index_t ldc);

// True when the running CPU has AVX2 and FMA and the AVX2 kernels were compiled in.
bool cpu_has_avx2_fma();
// "avx2-fma" or "portable": the micro-kernel gemm() uses on this machine.
const char* gemm_kernel_name();

}  // namespace qnn
