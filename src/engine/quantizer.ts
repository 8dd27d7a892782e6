/**
 * Quantizer options shared by GPFQ and MSQ: nearest (default), stochastic rounding (SGPFQ),
 * L1 soft-threshold and the ZZS L0 rule (ALGORITHMS.md 4.8).
 */
import { QnnError } from '../errors';
import type { NativeQuantSpec } from '../native/types';
import { QuantKind, QuantSpec } from '../reference/quantizer';
import { checkOneOf } from './validate';

export type QuantizerName = 'nearest' | 'stochastic' | 'l1' | 'l0';

export interface QuantizerOptions {
  /** Default 'nearest'. 'l0' needs the alphabet from l0Alphabet() with the same delta/lambda/kMax. */
  quantizer?: QuantizerName;
  /** Ties of 'nearest': 'lower' (numpy argmin order, default) or 'upper' (ZZS uniform grid). */
  tie?: 'lower' | 'upper';
  /** Threshold λ of 'l1' / 'l0'. */
  lambda?: number;
  /** Seed of the per-neuron streams of 'stochastic'. */
  seed?: number;
  /** 'l0' grid: step δ and K (levels ±(λ + kδ), k ≤ K). */
  l0?: { delta: number; kMax: number };
}

const NAMES: readonly QuantizerName[] = ['nearest', 'stochastic', 'l1', 'l0'];
const KIND: Record<QuantizerName, QuantKind> = {
  nearest: QuantKind.Nearest,
  stochastic: QuantKind.Stochastic,
  l1: QuantKind.L1,
  l0: QuantKind.L0,
};

export function quantSpec(o: QuantizerOptions, levels: Float32Array): QuantSpec {
  const name = checkOneOf('quantizer', o.quantizer, NAMES, 'nearest');
  const tie = checkOneOf('tie', o.tie, ['lower', 'upper'] as const, 'lower');
  const lambda = o.lambda ?? 0;
  if (!(Number.isFinite(lambda) && lambda >= 0)) throw new QnnError('QNN_E_RANGE', `\`lambda\` must be >= 0 (got ${lambda})`);
  const seed = o.seed ?? 0;
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) {
    throw new QnnError('QNN_E_RANGE', `\`seed\` must be an integer in [0, 2^32) (got ${seed})`);
  }
  let delta = 0;
  let kMax = 0;
  if (name === 'l0') {
    delta = o.l0?.delta ?? 0;
    kMax = o.l0?.kMax ?? 0;
    if (!(delta > 0 && Number.isInteger(kMax) && kMax >= 1)) {
      throw new QnnError('QNN_E_RANGE', "quantizer 'l0' needs `l0: {delta > 0, kMax >= 1}`");
    }
    if (levels.length !== 2 * kMax + 3) {
      throw new QnnError('QNN_E_SHAPE', "quantizer 'l0' needs the alphabet from l0Alphabet() (2·kMax + 3 levels)");
    }
  }
  return { kind: KIND[name], tieUpper: tie === 'upper', lambda, delta, kMax, seed };
}

export function toNativeQuant(s: QuantSpec): NativeQuantSpec {
  return { kind: s.kind, tieUpper: s.tieUpper, lambda: s.lambda, delta: s.delta, kMax: s.kMax, seed: s.seed };
}
