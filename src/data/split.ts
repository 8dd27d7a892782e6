/**
 * Seeded, class-stratified splitting and sampling, and row gathering. Every choice derives from
 * `permutation(n_c, mixSeed(seed, c))` per class c, so results are identical for a given seed on
 * every platform.
 */
import { QnnError } from '../errors';
import { mixSeed, permutation } from '../util/rng';
import type { Dataset } from './types';

/** Typed arrays that sample values can be gathered from. */
export type NumericArray = Float32Array | Float64Array | Uint8Array | Int32Array;

/** Sample indices grouped by class (ascending within a class); labels are checked against numClasses. */
function groupByClass(y: Int32Array, numClasses: number): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new QnnError('QNN_E_RANGE', `numClasses must be a positive integer, got ${numClasses}`);
  }
  const groups = Array.from({ length: numClasses }, () => [] as number[]);
  for (let i = 0; i < y.length; i++) {
    const c = y[i];
    if (c < 0 || c >= numClasses) {
      throw new QnnError('QNN_E_RANGE', `label ${c} of sample ${i} is outside [0, ${numClasses})`, {
        hint: 'labels must be class indices 0..numClasses-1',
      });
    }
    groups[c].push(i);
  }
  return groups;
}

/** Indices whose mark is set (or not set), ascending. */
function marked(mark: Uint8Array, value: number): Int32Array {
  let n = 0;
  for (let i = 0; i < mark.length; i++) if (mark[i] === value) n++;
  const out = new Int32Array(n);
  for (let i = 0, j = 0; i < mark.length; i++) if (mark[i] === value) out[j++] = i;
  return out;
}

/**
 * Splits sample indices per class: class c's indices are shuffled with
 * `permutation(n_c, mixSeed(seed, c))` and the first `round(testFraction * n_c)` go to test.
 * Returns both sets as ascending index arrays; they never overlap and together cover every sample.
 */
export function stratifiedSplit(
  y: Int32Array,
  numClasses: number,
  testFraction: number,
  seed: number,
): { train: Int32Array; test: Int32Array } {
  if (!(testFraction >= 0 && testFraction <= 1)) {
    throw new QnnError('QNN_E_RANGE', `testFraction must be in [0, 1], got ${testFraction}`);
  }
  const groups = groupByClass(y, numClasses);
  const isTest = new Uint8Array(y.length);
  groups.forEach((g, c) => {
    const k = Math.round(testFraction * g.length);
    const perm = permutation(g.length, mixSeed(seed, c));
    for (let j = 0; j < k; j++) isTest[g[perm[j]]] = 1;
  });
  return { train: marked(isTest, 0), test: marked(isTest, 1) };
}

/**
 * A seeded, class-stratified subset of exactly min(n, y.length) sample indices (ascending).
 * Class quotas are n·n_c/N rounded by largest remainder (ties to the lower class), and class c
 * keeps the first quota entries of `permutation(n_c, mixSeed(seed, c))`.
 */
export function stratifiedSample(y: Int32Array, numClasses: number, n: number, seed: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new QnnError('QNN_E_RANGE', `sample size must be a non-negative integer, got ${n}`);
  const groups = groupByClass(y, numClasses);
  const total = y.length;
  if (n >= total) return Int32Array.from({ length: total }, (_, i) => i);
  const quota = groups.map((g) => Math.floor((n * g.length) / total));
  const frac = groups.map((g, c) => (n * g.length) / total - quota[c]);
  let missing = n - quota.reduce((a, b) => a + b, 0);
  const order = groups.map((_, c) => c).sort((a, b) => frac[b] - frac[a] || a - b);
  for (const c of order) {
    if (missing === 0) break;
    quota[c]++;
    missing--;
  }
  const keep = new Uint8Array(total);
  groups.forEach((g, c) => {
    const perm = permutation(g.length, mixSeed(seed, c));
    for (let j = 0; j < quota[c]; j++) keep[g[perm[j]]] = 1;
  });
  return marked(keep, 1);
}

/** Allocates a Float32Array, turning V8's RangeError for huge sizes into a QnnError with the fix. */
export function allocFloat32(length: number, what: string): Float32Array {
  try {
    return new Float32Array(length);
  } catch (e) {
    throw new QnnError('QNN_E_MEMORY', `cannot allocate ${length} float32 values for ${what}`, {
      cause: e,
      hint: 'load fewer samples with maxTrain / maxTest',
    });
  }
}

/** Copies rows `indices` (each `rowLen` values) of `src` into a new Float32Array, in the given order. */
export function gatherRows(src: NumericArray, rowLen: number, indices: ArrayLike<number>, what: string): Float32Array {
  const rows = src.length / rowLen;
  const out = allocFloat32(indices.length * rowLen, what);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j];
    if (!Number.isInteger(i) || i < 0 || i >= rows) {
      throw new QnnError('QNN_E_RANGE', `index ${i} (position ${j}) is outside [0, ${rows}) for ${what}`);
    }
    out.set(src.subarray(i * rowLen, (i + 1) * rowLen), j * rowLen);
  }
  return out;
}

/** A new Dataset holding the samples `indices` of `ds`, in that order (copied). */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const rowLen = ds.shape.reduce((a, b) => a * b, 1);
  const x = gatherRows(ds.x, rowLen, indices, 'subset');
  const y = new Int32Array(indices.length);
  for (let j = 0; j < indices.length; j++) y[j] = ds.y[indices[j]];
  return { x, y, count: indices.length, shape: ds.shape.slice(), numClasses: ds.numClasses, ...(ds.classNames ? { classNames: ds.classNames.slice() } : {}) };
}
