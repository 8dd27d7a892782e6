/** Seeded synthetic layers for engine tests, and the QnnError assertions every suite uses. */
import { QnnError, type QnnErrorCode } from '../src/errors';
import { Rng32 } from '../src/util/rng';

/** Asserts that `err` is a QnnError with `code` (and a message matching `text`); returns it. */
export function expectCode(err: unknown, code: QnnErrorCode, text?: RegExp): QnnError {
  expect(err).toBeInstanceOf(QnnError);
  const q = err as QnnError;
  expect(q.code).toBe(code);
  if (text) expect(q.message).toMatch(text);
  return q;
}

/** What `fn` throws (undefined when it returns). */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** What the promise (or the promise `fn` returns, or `fn` itself) rejects / throws with. */
export async function rejectionOf(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Synchronous form: `fn` must throw a QnnError with `code`. */
export function throwsCode(fn: () => unknown, code: QnnErrorCode, text?: RegExp): QnnError {
  return expectCode(thrownBy(fn), code, text);
}

export interface Layer {
  m: number;
  n0: number;
  n1: number;
  w: Float32Array;
  x: Float32Array;
  xq: Float32Array;
}

/** Correlated ReLU inputs, X~ = ReLU(X + noise), weights ~ N(0, 0.3²); dead columns zero in X~ (and X). */
export function makeLayer(m: number, n0: number, n1: number, seed: number, opts: { dead?: number[]; noise?: number } = {}): Layer {
  const r = new Rng32(seed);
  const w = new Float32Array(n0 * n1).map(() => 0.3 * r.normal());
  const x = new Float32Array(m * n0);
  for (let i = 0; i < m; i++) {
    const common = r.normal();
    for (let t = 0; t < n0; t++) x[i * n0 + t] = Math.max(0, 0.7 * common + r.normal());
  }
  const noise = opts.noise ?? 0.1;
  const xq = x.map((v) => Math.max(0, v + noise * r.normal()));
  for (const t of opts.dead ?? []) {
    for (let i = 0; i < m; i++) {
      x[i * n0 + t] = 0;
      xq[i * n0 + t] = 0;
    }
  }
  return { m, n0, n1, w, x, xq };
}

export function randomUniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Rng32(seed);
  return new Float32Array(n).map(() => lo + (hi - lo) * r.uniform());
}

export function mismatches(a: Int32Array, b: Int32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
