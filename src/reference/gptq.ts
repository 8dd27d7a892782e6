/**
 * GPTQ in plain TS (FIELD.md 2.1), unblocked and in float64: the oracle for the native blocked
 * version and the fallback backend. Keras layout: W is n0 x n1, row t = input t (GPTQ's columns).
 * The steps are those of the reference `fasterquant`: dead inputs, optional act-order, damping,
 * chol(H) -> cholesky_inverse -> chol(upper) = U, then for each row t in visiting order:
 * q_t = Q(w_t), err_t = (w_t − q_t) / U_tt and every later row r gets w_r −= U_tr · err_t.
 */
import { QnnError } from '../errors';
import type { GramArray } from '../native/types';
import { mixSeed, Rng32 } from '../util/rng';
import { gramOutputErrorsRef } from './gpfq';
import { QuantSpec, quantizeIndex } from './quantizer';

export interface GptqRefOptions {
  /** λ = percDamp · mean(diag H), added to the diagonal (after the dead-input fix). */
  percDamp: number;
  /** Visit the inputs by decreasing diag(H) (stable: ties keep index order). */
  actOrder: boolean;
  quant: QuantSpec;
}

export interface GptqRefResult {
  codes: Int32Array;
  q: Float32Array;
  error: Float64Array;
  relError: Float64Array;
}

/** Lower Cholesky factor of the n x n symmetric P (in place); throws QNN_E_VALUE with the input
 * index (through `label`) of the first non-positive pivot. */
function cholesky(P: Float64Array, n: number, label: (i: number) => string): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = P[i * n + j];
      for (let p = 0; p < j; p++) s -= P[i * n + p] * P[j * n + p];
      if (j < i) {
        P[i * n + j] = s / P[j * n + j];
      } else {
        if (!(s > 0) || !Number.isFinite(s)) {
          throw new QnnError('QNN_E_VALUE', `H is not positive definite after damping (found at ${label(i)})`, {
            hint: 'Increase percDamp (e.g. to 0.1) or check that H = X~ᵀX~ was accumulated correctly',
          });
        }
        P[i * n + i] = Math.sqrt(s);
      }
    }
    for (let j = i + 1; j < n; j++) P[i * n + j] = 0;
  }
}

/**
 * U, the upper Cholesky factor of P⁻¹ (P⁻¹ = UᵀU), the way the reference computes it:
 * L = chol(P); P⁻¹ = L⁻ᵀL⁻¹; U = chol(P⁻¹)ᵀ. Returns U row-major.
 */
export function inverseCholeskyUpperRef(P: Float64Array, n: number, label: (i: number) => string = (i) => `index ${i}`): Float64Array {
  const L = Float64Array.from(P);
  cholesky(L, n, label);
  // Li = L⁻¹ (lower), column by column.
  const Li = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    for (let i = c; i < n; i++) {
      let s = i === c ? 1 : 0;
      for (let p = c; p < i; p++) s -= L[i * n + p] * Li[p * n + c];
      Li[i * n + c] = s / L[i * n + i];
    }
  }
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += Li[k * n + i] * Li[k * n + j];
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  }
  cholesky(inv, n, label);
  const U = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) U[j * n + i] = inv[i * n + j];
  return U;
}

/**
 * GPTQ from the Gram matrices (G = X~ᵀX, H = X~ᵀX~, K = XᵀX; only H's lower triangle drives the
 * algorithm). Errors: ||Xw − X~q||² = wᵀKw − 2qᵀGw + qᵀHq (same: (w − q)ᵀH(w − q)) and
 * ||Xw||² = wᵀKw, both in double; NaN when not same and G or K is missing.
 */
export function gptqRef(
  w: Float32Array,
  n0: number,
  n1: number,
  g: GramArray | undefined,
  h: GramArray,
  k: GramArray | undefined,
  same: boolean,
  levels: Float32Array,
  o: GptqRefOptions,
): GptqRefResult {
  const n = n0;
  const sym = (A: GramArray, i: number, j: number) => (i >= j ? A[i * n + j] : A[j * n + i]);
  const diag = new Float64Array(n);
  const dead = new Uint8Array(n);
  let diagSum = 0;
  for (let t = 0; t < n; t++) {
    const d = h[t * n + t];
    dead[t] = d === 0 ? 1 : 0;
    diag[t] = d === 0 ? 1 : d;
    diagSum += diag[t];
  }
  const perm = Array.from({ length: n }, (_, i) => i);
  if (o.actOrder) perm.sort((a, b) => diag[b] - diag[a]);
  const damp = o.percDamp * (diagSum / n);
  const P = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) P[i * n + j] = sym(h, perm[i], perm[j]);
    P[i * n + i] = diag[perm[i]] + damp;
  }
  const U = inverseCholeskyUpperRef(P, n, (i) => `input ${perm[i]} with percDamp = ${o.percDamp}`);

  const W = new Float64Array(n * n1);
  for (let t = 0; t < n; t++) {
    if (dead[perm[t]]) continue;
    for (let j = 0; j < n1; j++) W[t * n1 + j] = w[perm[t] * n1 + j];
  }
  const codes = new Int32Array(n * n1);
  const q = new Float32Array(n * n1);
  const rngs = Array.from({ length: n1 }, (_, j) => new Rng32(mixSeed(o.quant.seed, j)));
  const err = new Float64Array(n1);
  for (let t = 0; t < n; t++) {
    const utt = U[t * n + t];
    const orig = perm[t];
    for (let j = 0; j < n1; j++) {
      const z = W[t * n1 + j];
      const idx = quantizeIndex(levels, o.quant, z, rngs[j]);
      err[j] = (z - levels[idx]) / utt;
      codes[orig * n1 + j] = idx;
      q[orig * n1 + j] = levels[idx];
    }
    for (let r = t + 1; r < n; r++) {
      const u = U[t * n + r];
      const row = r * n1;
      for (let j = 0; j < n1; j++) W[row + j] -= u * err[j];
    }
  }

  const { error, relError } = gramOutputErrorsRef(w, q, n, n1, g, h, k, same);
  return { codes, q, error, relError };
}
