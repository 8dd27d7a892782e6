/**
 * Alphabets and radius rules (ALGORITHMS.md 3.1, 4.1), identical to native/src/cpu/alphabet.cc:
 * levels lie on an integer grid, level = fround(code * step + min), min = -zeroCode * step.
 */
import { QnnError } from '../errors';

export const enum AlphabetKindId {
  Lybrand = 0,
  ZzsLinspace = 1,
  ZzsUniform = 2,
}

export interface AlphabetGrid {
  levels: Float32Array;
  codes: Int32Array;
  step: number;
  min: number;
  radius: number;
}

/** round(2^bits), half-way cases to even. */
export function levelCount(bits: number): number {
  const v = Math.pow(2, bits);
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** K of the ZZS uniform grid: max(1, round(2^(bits-1))). */
export function uniformHalfWidth(bits: number): number {
  return Math.max(1, levelCount(bits - 1));
}

export function validateAlphabetSpec(bits: number, scalar: number, percentile: number): void {
  if (!(Number.isFinite(bits) && bits >= 1 && bits <= 16)) {
    throw new QnnError('QNN_E_RANGE', `bits must be a number in [1, 16] (got ${bits})`, {
      hint: 'Use e.g. 4 for 16 levels or 1.585 (log2 3) for a ternary alphabet',
    });
  }
  if (!(Number.isFinite(scalar) && scalar > 0)) {
    throw new QnnError('QNN_E_RANGE', `scalar must be a finite number > 0 (got ${scalar})`);
  }
  if (!(Number.isFinite(percentile) && percentile > 0 && percentile <= 1)) {
    throw new QnnError('QNN_E_RANGE', `percentile must be in (0, 1] (got ${percentile})`);
  }
}

function quantileSorted(v: Float64Array, p: number): number {
  const pos = p * (v.length - 1);
  const lo = Math.floor(pos);
  if (lo + 1 >= v.length) return v[v.length - 1];
  const t = pos - lo;
  return v[lo] + (v[lo + 1] - v[lo]) * t;
}

/** Radius before the scalar: median |W| (Lybrand) or the mean over neurons of quantile_p |W[:, j]|. */
export function layerRadius(kind: AlphabetKindId, w: Float32Array, n0: number, n1: number, percentile: number): number {
  if (kind === AlphabetKindId.Lybrand) {
    const a = new Float64Array(n0 * n1);
    for (let i = 0; i < a.length; i++) a[i] = Math.abs(w[i]);
    a.sort();
    const mid = a.length >> 1;
    return a.length % 2 === 1 ? a[mid] : (a[mid - 1] + a[mid]) / 2;
  }
  let sum = 0;
  const col = new Float64Array(n0);
  for (let j = 0; j < n1; j++) {
    for (let t = 0; t < n0; t++) col[t] = Math.abs(w[t * n1 + j]);
    col.sort();
    sum += quantileSorted(col, percentile);
  }
  return sum / n1;
}

export function alphabetGridRef(
  kind: AlphabetKindId,
  bits: number,
  scalar: number,
  percentile: number,
  w: Float32Array,
  n0: number,
  n1: number,
): AlphabetGrid {
  validateAlphabetSpec(bits, scalar, percentile);
  const radius = layerRadius(kind, w, n0, n1, percentile);
  const r = scalar * radius;
  const codes: number[] = [];
  let step: number;
  let zero: number;
  if (kind === AlphabetKindId.ZzsUniform) {
    const k = uniformHalfWidth(bits);
    step = r / k;
    zero = k;
    for (let i = 0; i <= 2 * k; i++) codes.push(i);
  } else {
    const n = levelCount(bits);
    step = r / (n - 1);
    zero = n - 1;
    for (let i = 0; i < n; i++) {
      if (kind === AlphabetKindId.ZzsLinspace && n % 2 === 0 && i === n / 2) codes.push(zero);
      codes.push(2 * i);
    }
  }
  const min = -(zero * step);
  const levels = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) levels[i] = codes[i] * step + min;
  return { levels, codes: Int32Array.from(codes), step, min, radius };
}

/** Alphabet of the ZZS L0 quantizer: {-(lambda + K delta) .. -lambda, 0, lambda .. lambda + K delta}. */
export function l0AlphabetRef(delta: number, lambda: number, kMax: number): Float32Array {
  if (!(Number.isFinite(delta) && delta > 0)) throw new QnnError('QNN_E_RANGE', 'L0 delta must be > 0');
  if (!(Number.isFinite(lambda) && lambda >= 0)) throw new QnnError('QNN_E_RANGE', 'L0 lambda must be >= 0');
  if (!(Number.isInteger(kMax) && kMax >= 1)) throw new QnnError('QNN_E_RANGE', 'L0 K must be an integer >= 1');
  const out = new Float32Array(2 * kMax + 3);
  const c = kMax + 1;
  for (let k = 0; k <= kMax; k++) {
    const v = Math.fround(lambda + delta * k);
    out[c + 1 + k] = v;
    out[c - 1 - k] = -v;
  }
  return out;
}
