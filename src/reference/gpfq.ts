/**
 * GPFQ in plain TS: the oracle and the fallback backend.
 * - direct: the per-neuron dynamical system of ALGORITHMS.md 2.1, literally (X and Xq transposed
 *   once so columns are contiguous; dot products in double).
 * - gram: the exact rewrite 2.2(b) from G = Xq^T X, H = Xq^T Xq (and K = X^T X for errors).
 * Both use the same update as the native sweep: s_t = (c_t + <Xq_t, X_t> w_t) / ||Xq_t||^2.
 */
import type { GramArray } from '../native/types';
import { mixSeed, Rng32 } from '../util/rng';
import { QuantSpec, quantizeIndex } from './quantizer';

export const DEAD_NORM2 = 1e-32;
export const SHORTCUT = 1e-10;

export interface GpfqRefOptions {
  /** Dead input (||Xq_t|| < 1e-16): 'q0' -> Q(0), 'zero' -> literal 0 with code -1. */
  dead: 'q0' | 'zero';
  shortcut: boolean;
  quant: QuantSpec;
  /** Round the running error u to float32 after every update (precision 'float32'). */
  f32: boolean;
}

export interface GpfqRefResult {
  codes: Int32Array;
  q: Float32Array;
  error: Float64Array;
  relError: Float64Array;
}

function newResult(n0: number, n1: number): GpfqRefResult {
  return { codes: new Int32Array(n0 * n1), q: new Float32Array(n0 * n1), error: new Float64Array(n1), relError: new Float64Array(n1) };
}

function relative(err2: number, ref2: number): [number, number] {
  const e = Math.sqrt(Math.max(0, err2));
  const r = Math.sqrt(Math.max(0, ref2));
  return [e, r > 0 ? e / r : e === 0 ? 0 : Infinity];
}

function transpose(x: Float32Array, m: number, n0: number): Float32Array {
  const t = new Float32Array(m * n0);
  for (let i = 0; i < m; i++) for (let c = 0; c < n0; c++) t[c * m + i] = x[i * n0 + c];
  return t;
}

/** One step's quantizer argument and index; shared by both forms. */
function step(
  levels: Float32Array,
  o: GpfqRefOptions,
  h: number,
  g: number,
  c: number,
  w: number,
  rng: Rng32,
): number {
  if (!(h > DEAD_NORM2)) return o.dead === 'zero' ? -1 : quantizeIndex(levels, o.quant, 0, rng);
  if (o.shortcut && Math.abs(c) < SHORTCUT) return quantizeIndex(levels, o.quant, w, rng);
  return quantizeIndex(levels, o.quant, (c + g * w) / h, rng);
}

export function gpfqDirectRef(
  w: Float32Array,
  n0: number,
  n1: number,
  x: Float32Array,
  xq: Float32Array | undefined,
  m: number,
  levels: Float32Array,
  o: GpfqRefOptions,
): GpfqRefResult {
  const out = newResult(n0, n1);
  const xt = transpose(x, m, n0);
  const xqt = xq ? transpose(xq, m, n0) : xt;
  const nrm = new Float64Array(n0);
  const gd = new Float64Array(n0);
  for (let t = 0; t < n0; t++) {
    let s = 0;
    let g = 0;
    for (let i = 0; i < m; i++) {
      const a = xqt[t * m + i];
      s += a * a;
      g += a * xt[t * m + i];
    }
    nrm[t] = s;
    gd[t] = g;
  }
  const u = o.f32 ? new Float32Array(m) : new Float64Array(m);
  const v = new Float64Array(m);
  for (let j = 0; j < n1; j++) {
    u.fill(0);
    v.fill(0);
    const rng = new Rng32(mixSeed(o.quant.seed, j));
    for (let t = 0; t < n0; t++) {
      const base = t * m;
      let c = 0;
      for (let i = 0; i < m; i++) c += xqt[base + i] * u[i];
      const wt = w[t * n1 + j];
      const idx = step(levels, o, nrm[t], gd[t], c, wt, rng);
      const qv = idx < 0 ? 0 : levels[idx];
      out.codes[t * n1 + j] = idx;
      out.q[t * n1 + j] = qv;
      for (let i = 0; i < m; i++) {
        const xv = xt[base + i];
        u[i] += wt * xv - qv * xqt[base + i];
        v[i] += wt * xv;
      }
    }
    let e2 = 0;
    let r2 = 0;
    for (let i = 0; i < m; i++) {
      e2 += u[i] * u[i];
      r2 += v[i] * v[i];
    }
    [out.error[j], out.relError[j]] = relative(e2, r2);
  }
  return out;
}

/**
 * Gram form. g may be undefined when same (then G = K = H). k undefined and not same: errors
 * are NaN (K = X^T X was not accumulated).
 */
export function gpfqGramRef(
  w: Float32Array,
  n0: number,
  n1: number,
  g: GramArray | undefined,
  h: GramArray,
  k: GramArray | undefined,
  same: boolean,
  levels: Float32Array,
  o: GpfqRefOptions,
): GpfqRefResult {
  const out = newResult(n0, n1);
  const G = same ? h : g!;
  const qd = new Float64Array(n0);
  for (let j = 0; j < n1; j++) {
    const rng = new Rng32(mixSeed(o.quant.seed, j));
    for (let t = 0; t < n0; t++) {
      let c = 0;
      const row = t * n0;
      for (let i = 0; i < t; i++) c += G[row + i] * w[i * n1 + j] - h[row + i] * qd[i];
      const idx = step(levels, o, h[row + t], G[row + t], c, w[t * n1 + j], rng);
      const qv = idx < 0 ? 0 : levels[idx];
      qd[t] = qv;
      out.codes[t * n1 + j] = idx;
      out.q[t * n1 + j] = qv;
    }
  }
  const e = gramOutputErrorsRef(w, out.q, n0, n1, g, h, k, same);
  out.error.set(e.error);
  out.relError.set(e.relError);
  return out;
}

/**
 * Per-neuron ||Xw − X~q|| and its ratio to ||Xw|| from the Gram matrices, in double, as the native
 * code computes them: wᵀKw − 2qᵀGw + qᵀHq (same inputs: (w − q)ᵀH(w − q)); H and K are read
 * through their lower triangles. NaN when not same and G or K is missing.
 */
export function gramOutputErrorsRef(
  w: Float32Array,
  q: Float32Array,
  n0: number,
  n1: number,
  g: GramArray | undefined,
  h: GramArray,
  k: GramArray | undefined,
  same: boolean,
): { error: Float64Array; relError: Float64Array } {
  const error = new Float64Array(n1);
  const relError = new Float64Array(n1);
  if (!same && (!g || !k)) {
    error.fill(NaN);
    relError.fill(NaN);
    return { error, relError };
  }
  const sym = (A: GramArray, i: number, j: number) => (i >= j ? A[i * n0 + j] : A[j * n0 + i]);
  for (let j = 0; j < n1; j++) {
    let e2 = 0;
    let r2 = 0;
    for (let a = 0; a < n0; a++) {
      const wa = w[a * n1 + j];
      const qa = q[a * n1 + j];
      for (let b = 0; b < n0; b++) {
        const wb = w[b * n1 + j];
        const qb = q[b * n1 + j];
        if (same) {
          const hab = sym(h, a, b);
          e2 += (wa - qa) * hab * (wb - qb);
          r2 += wa * hab * wb;
        } else {
          const kab = sym(k!, a, b);
          e2 += wa * kab * wb - 2 * qa * g![a * n0 + b] * wb + qa * sym(h, a, b) * qb;
          r2 += wa * kab * wb;
        }
      }
    }
    [error[j], relError[j]] = relative(e2, r2);
  }
  return { error, relError };
}
