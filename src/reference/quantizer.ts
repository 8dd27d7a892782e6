/**
 * Scalar quantizers, operation for operation the same as native/include/qnn/quantizer.h:
 * binary search on the ascending alphabet, distances in double, the same tie rules and RNG streams.
 */
import { Rng32 } from '../util/rng';

export const enum QuantKind {
  Nearest = 0,
  Stochastic = 1,
  L1 = 2,
  L0 = 3,
}

export interface QuantSpec {
  kind: QuantKind;
  tieUpper: boolean;
  lambda: number;
  delta: number;
  kMax: number;
  seed: number;
}

export const NEAREST: QuantSpec = { kind: QuantKind.Nearest, tieUpper: false, lambda: 0, delta: 0, kMax: 0, seed: 0 };

/** First index i with !(a[i] < z) (n if none); NaN maps to 0. */
export function lowerBoundIndex(a: Float32Array, z: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < z) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Nearest element; ties go to the lower element (numpy argmin order) unless tieUpper. */
export function nearestIndex(a: Float32Array, z: number, tieUpper: boolean): number {
  const n = a.length;
  const i = lowerBoundIndex(a, z);
  if (i === 0) return 0;
  if (i === n) return n - 1;
  const dlo = z - a[i - 1];
  const dhi = a[i] - z;
  if (tieUpper) return dlo < dhi ? i - 1 : i;
  return dlo <= dhi ? i - 1 : i;
}

/** Index of Q(z) in the alphabet `a`; `rng` is the neuron's stream (stochastic rounding only). */
export function quantizeIndex(a: Float32Array, spec: QuantSpec, z: number, rng: Rng32): number {
  switch (spec.kind) {
    case QuantKind.Nearest:
      return nearestIndex(a, z, spec.tieUpper);
    case QuantKind.L1: {
      const mag = Math.abs(z) - spec.lambda;
      const zs = mag > 0 ? (z < 0 || Object.is(z, -0) ? -mag : mag) : 0;
      return nearestIndex(a, zs, spec.tieUpper);
    }
    case QuantKind.Stochastic: {
      const n = a.length;
      const i = lowerBoundIndex(a, z);
      if (i === 0) {
        rng.next();
        return 0;
      }
      if (i === n) {
        rng.next();
        return n - 1;
      }
      const lo = a[i - 1];
      const hi = a[i];
      const pUp = (z - lo) / (hi - lo);
      return rng.uniform() < pUp ? i : i - 1;
    }
    case QuantKind.L0: {
      const center = spec.kMax + 1;
      const az = Math.abs(z);
      if (!(az > spec.lambda)) return center;
      let k = roundHalfEven((az - spec.lambda) / spec.delta);
      if (k > spec.kMax) k = spec.kMax;
      return z > 0 ? center + 1 + k : center - 1 - k;
    }
  }
}

/** Round half to even (C's nearbyint in the default rounding mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
