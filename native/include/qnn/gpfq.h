// GPFQ (ALGORITHMS.md 2; FIELD.md 2.2-2.3). Weights are Keras-layout W (n0 x n1, row t = input t,
// column j = neuron j). Both forms visit inputs t = 0..n0-1 in order and share one block sweep:
//
//   c_t = <Xq_t, u_{t-1}>,  s_t = (c_t + <Xq_t, X_t> w_t) / ||Xq_t||^2,  q_t = Q(s_t)
//
// * direct: the error-matrix form blocked in B columns: P = Xq_B^T U, in-block terms from
//   Xq_B^T X_B and Xq_B^T Xq_B, then U += X_B W_B - Xq_B Q_B (GEMMs). Memory m x n1.
// * gram: the same sweep from G = Xq^T X, H = Xq^T Xq only: c_t for a block comes from one GEMM
//   G[B, :t0] W[:t0] - H[B, :t0] Q[:t0]. Memory n0 x n0, independent of m.
// In float64 both give the codes of the per-neuron reference loop (up to reassociation ties).
#pragma once

#include <cstdint>

#include "qnn/common.h"
#include "qnn/quantizer.h"

namespace qnn {

enum class DeadRule : int {
  kQZero = 0,  // dead input (||Xq_t|| < 1e-16): q_t = Q(0)   (ZZS)
  kZero = 1,   // dead input: q_t = literal 0, code -1, even if 0 is not a level (Lybrand)
};

struct GpfqOptions {
  DeadRule dead = DeadRule::kQZero;
  bool shortcut = false;  // variant E: |c_t| < 1e-10 -> q_t = Q(w_t) (always at t = 0)
  int block = 128;        // columns per block (B)
  int threads = 1;
  QuantizerSpec quant;
};

// Caller-owned outputs: codes/q are n0 x n1 (Keras layout), err/rel have n1 entries.
struct GpfqOutput {
  std::int32_t* codes = nullptr;
  float* q = nullptr;
  double* err = nullptr;  // ||X w_j - Xq q_j||
  double* rel = nullptr;  // err / ||X w_j|| (0 when ||X w_j|| == 0 and err == 0, else inf)
};

// x, xq: m x n0 row-major; xq == nullptr means Xq = X. T = float or double (working precision).
template <typename T>
void gpfq_direct(const float* w, index_t n0, index_t n1, const float* x, const float* xq, index_t m,
                 const float* levels, int n_levels, const GpfqOptions& opt, GpfqOutput out);

// G, H, K: n0 x n0 from gram_accumulate (lower triangles of H and K are read; they are mirrored in
// place for the error computation). same == true: G and K are ignored and H serves all three.
template <typename T>
void gpfq_gram(const float* w, index_t n0, index_t n1, const T* G, T* H, T* K, bool same, const float* levels,
               int n_levels, const GpfqOptions& opt, GpfqOutput out);

// Memoryless scalar quantization of n values: codes[i] = Q(w[i]), q[i] = levels[codes[i]].
// n1 = columns of the Keras matrix (neurons); stochastic rounding uses stream mix_seed(seed, j).
void msq(const float* w, index_t n, const float* levels, int n_levels, const QuantizerSpec& spec, index_t n1,
         std::int32_t* codes, float* q);

}  // namespace qnn
