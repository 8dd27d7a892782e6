/**
 * Layer alphabets (ALGORITHMS.md 3.1, 4.1) and MSQ.
 */
import { QnnError, toQnnError } from '../errors';
import { AlphabetGrid, AlphabetKindId, alphabetGridRef, l0AlphabetRef, validateAlphabetSpec } from '../reference/alphabet';
import { BackendChoice, binding, resolveBackend } from './backend';
import { checkAlphabet, checkF32, checkFinite, checkInt, checkOptions, checkOneOf } from './validate';
import { QuantizerOptions, quantSpec, toNativeQuant } from './quantizer';
import { quantizeIndex } from '../reference/quantizer';
import { mixSeed, Rng32 } from '../util/rng';

export type AlphabetKind = 'lybrand' | 'zzs-linspace' | 'zzs-uniform';
export type { AlphabetGrid };

export interface AlphabetOptions {
  /** 'lybrand': round(2^bits) levels in [-1, 1], radius C·median|W|; 'zzs-linspace':
   * linspace(-1, 1, 2^bits) ∪ {0}; 'zzs-uniform': {kδ : |k| ≤ 2^(bits-1)}; ZZS radius
   * C · mean over neurons of the p-quantile of |w|. */
  kind: AlphabetKind;
  /** In [1, 16]; fractional allowed (1.585 = log2 3 gives a ternary Lybrand alphabet). */
  bits: number;
  /** The alphabet scalar C (> 0). Default 1. */
  scalar?: number;
  /** Layer weights, n0 x n1 row-major (Keras layout: column j = neuron j). */
  weights: Float32Array;
  n0: number;
  n1: number;
  /** p of the ZZS radius, in (0, 1]. Default 1 (mean of per-neuron max |w|). */
  percentile?: number;
  backend?: BackendChoice;
}

const KINDS: readonly AlphabetKind[] = ['lybrand', 'zzs-linspace', 'zzs-uniform'];
const KIND_ID: Record<AlphabetKind, AlphabetKindId> = {
  lybrand: AlphabetKindId.Lybrand,
  'zzs-linspace': AlphabetKindId.ZzsLinspace,
  'zzs-uniform': AlphabetKindId.ZzsUniform,
};

/**
 * The layer alphabet with its integer grid: levels[i] = fround(codes[i]·step + min), exactly the
 * TF.js uint8/uint16 decode rule, so exports reproduce the levels bit for bit.
 */
export function alphabetGrid(opts: AlphabetOptions): AlphabetGrid {
  const o = checkOptions(opts, 'alphabet options');
  const kind = checkOneOf('kind', o.kind, KINDS, 'lybrand');
  if (o.kind === undefined) throw new QnnError('QNN_E_TYPE', "`kind` is required: 'lybrand', 'zzs-linspace' or 'zzs-uniform'");
  const n0 = checkInt('n0', o.n0, 1);
  const n1 = checkInt('n1', o.n1, 1);
  const w = checkF32('weights', o.weights, n0 * n1);
  const bits = o.bits as number;
  const scalar = (o.scalar as number | undefined) ?? 1;
  const percentile = (o.percentile as number | undefined) ?? 1;
  validateAlphabetSpec(bits, scalar, percentile);
  checkFinite('weights', w);
  const backend = resolveBackend(o.backend as BackendChoice | undefined);
  if (backend === 'js') return alphabetGridRef(KIND_ID[kind], bits, scalar, percentile, w, n0, n1);
  try {
    return binding().alphabet({ kind: KIND_ID[kind], bits, scalar, percentile, weights: w, n0, n1 });
  } catch (e) {
    throw toQnnError(e);
  }
}

/** The ascending Float32Array of the scaled levels for this layer. */
export function alphabet(opts: AlphabetOptions): Float32Array {
  return alphabetGrid(opts).levels;
}

/** Alphabet of the ZZS L0 sparsity quantizer: {0, ±(λ + kδ), k = 0..K}. */
export function l0Alphabet(opts: { delta: number; lambda: number; kMax: number }): Float32Array {
  const o = checkOptions(opts, 'l0Alphabet options');
  return l0AlphabetRef(o.delta as number, o.lambda as number, o.kMax as number);
}

export interface MsqOptions extends QuantizerOptions {
  weights: Float32Array;
  alphabet: Float32Array;
  /** Columns (neurons) of the Keras matrix; selects the per-neuron RNG streams of stochastic rounding. Default 1. */
  n1?: number;
  backend?: BackendChoice;
}

/** Memoryless scalar quantization: each weight rounded to the alphabet (same tie rule as GPFQ). */
export function msq(opts: MsqOptions): { codes: Int32Array; q: Float32Array } {
  const o = checkOptions(opts, 'msq options');
  const w = checkF32('weights', o.weights);
  const levels = checkAlphabet(o.alphabet);
  const n1 = o.n1 === undefined ? 1 : checkInt('n1', o.n1, 1);
  if (w.length % n1 !== 0) throw new QnnError('QNN_E_SHAPE', `${w.length} weights do not split into n1 = ${n1} columns`);
  checkFinite('weights', w);
  const spec = quantSpec(opts, levels);
  const backend = resolveBackend(o.backend as BackendChoice | undefined);
  if (backend !== 'js') {
    try {
      return binding().msq({ weights: w, levels, n1, quant: toNativeQuant(spec) });
    } catch (e) {
      throw toQnnError(e);
    }
  }
  const codes = new Int32Array(w.length);
  const q = new Float32Array(w.length);
  const n0 = w.length / n1;
  for (let j = 0; j < n1; j++) {
    const rng = new Rng32(mixSeed(spec.seed, j));
    for (let t = 0; t < n0; t++) {
      const i = t * n1 + j;
      const idx = quantizeIndex(levels, spec, w[i], rng);
      codes[i] = idx;
      q[i] = levels[idx];
    }
  }
  return { codes, q };
}
