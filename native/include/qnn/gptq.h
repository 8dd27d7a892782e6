// GPTQ (FIELD.md 2.1; Frantar et al., arXiv 2210.17323) on a streamed H = Xq^T Xq, Keras layout:
// W is n0 x n1, row t = input t, so GPTQ's "columns" are our rows.
//
//   1. dead inputs (H_tt == 0): H_tt = 1 and w_t = 0;
//   2. act-order (optional): visit the inputs by decreasing diag(H) (stable: ties keep index order);
//   3. damp: H += percdamp * mean(diag H) * I  (mean after step 1, as the reference does);
//   4. U = the upper Cholesky factor of H^-1 (H^-1 = U^T U);
//   5. lazy blocks of B rows. Inside a block, for each row t: q_t = Q(w_t),
//      err_t = (w_t - q_t) / U_tt, w_r -= U_tr err_t for the block's later rows r; after the block,
//      W[rest] -= U[block, rest]^T Err (one GEMM).
// Results are returned in the original row order. T (float or double) is the working precision of
// every step; the per-neuron errors are accumulated in double.
#pragma once

#include "qnn/common.h"
#include "qnn/gpfq.h"
#include "qnn/quantizer.h"

namespace qnn {

struct GptqOptions {
  int block = 128;          // rows per lazy block (B)
  double perc_damp = 0.01;  // lambda = perc_damp * mean(diag H)
  bool act_order = false;
  int threads = 1;
  // Q, as for GPFQ (nearest by default, ties per quant.tie_upper). Stochastic rounding draws from
  // the per-neuron streams mix_seed(seed, j) in visiting order.
  QuantizerSpec quant;
};

// Overwrites the symmetric n x n matrix A (row-major; only its lower triangle is read) with U, the
// upper Cholesky factor of A^-1, and zeroes the strict lower triangle. Blocked and GEMM-based:
// A = R R^T with R upper (a Cholesky factorisation in reversed index order), then U = R^-1, which
// is the same U as GPTQ's chol -> cholesky_inverse -> chol(upper) at half the flops.
// Returns -1, or the index (of A) whose pivot showed that A is not positive definite; A is then
// left in an unspecified state.
template <typename T>
index_t inverse_cholesky_upper(T* A, index_t n, int threads);

// G, H, K: n0 x n0 Gram matrices as for gpfq_gram (G = Xq^T X, H = Xq^T Xq, K = X^T X). Only H
// drives the algorithm (its lower triangle is read); G and K serve the per-neuron errors
// ||X w_j - Xq q_j|| = sqrt(w'Kw - 2 q'Gw + q'Hq), or sqrt((w - q)' H (w - q)) when same.
// For the errors H and K are mirrored in place (lower -> upper). Without same, a null G or K
// gives NaN errors. Throws QNN_E_VALUE when the damped H is not positive definite.
template <typename T>
void gptq(const float* w, index_t n0, index_t n1, const T* G, T* H, T* K, bool same, const float* levels,
          int n_levels, const GptqOptions& opt, GpfqOutput out);

}  // namespace qnn
