/**
 * Options of a network quantization run, their defaults and the paper presets.
 *
 * Presets (ALGORITHMS.md 3 and 4):
 * - 'lybrand': Lybrand & Saab — alphabet round(2^b) points of [-1, 1] × C·median|W|, dead inputs
 *   become a literal 0, the |<X~_t,u>| < 1e-10 shortcut, Conv2D channel-parallel at the true stride.
 * - 'zzs': Zhang, Zhou & Saab (paper era) — linspace(-1, 1, 2^b) ∪ {0} × C·mean per-neuron max|w|,
 *   dead inputs → Q(0), the shortcut, Conv2D whole filter with stride = kernel, retain rate 0.25,
 *   torch column order, a fresh calibration batch per layer.
 * - 'modern': the ZZS uniform grid with whole-filter convs at the true stride using every patch
 *   (what the streaming Gram form makes affordable), no shortcut.
 */
import { QnnError } from '../errors';
import type { AlphabetKind } from '../engine/alphabet';
import type { BackendChoice } from '../engine/backend';
import type { PatchMode } from '../engine/conv_spec';
import type { QuantizerName } from '../engine/quantizer';

export type Method = 'gpfq' | 'msq';
export type Preset = 'lybrand' | 'zzs' | 'modern';

export interface QuantizeOptions {
  method: Method;
  preset: Preset;
  /** Bits per weight (fractional allowed: 1.585 = ternary); see `alphabet`. */
  bits: number;
  /** Alphabet scalar C. */
  scalar: number;
  /** Separate bits / scalar for Dense and for conv layers (ZZS "mixed precision"). */
  denseBits?: number;
  convBits?: number;
  denseScalar?: number;
  convScalar?: number;
  alphabet: AlphabetKind;
  /** p of the ZZS radius. */
  percentile: number;
  /** Calibration samples (images) per layer; default: the whole train split up to 10,000. */
  samples?: number;
  /** Images pushed through the networks per step while capturing layer inputs. */
  batchSize: number;
  seed: number;
  /** Draw a fresh seeded calibration subset for every layer (ZZS) instead of one for all (Lybrand). */
  freshPerLayer: boolean;
  algorithm: 'auto' | 'direct' | 'gram';
  precision: 'float32' | 'float64';
  backend: BackendChoice;
  threads: number;
  deadInput: 'q0' | 'zero';
  shortcut: boolean;
  tie: 'lower' | 'upper';
  quantizer: QuantizerName;
  lambda: number;
  convMode: PatchMode;
  retainRate: number;
  columnOrder: 'hwc' | 'chw';
  /** Quantize only these layers (names); default all quantizable layers. */
  layers?: string[];
  skipLayers: string[];
  keepLastFloat: boolean;
  /** Keep layers we cannot quantize (e.g. Conv1D, LSTM) in float instead of failing. */
  skipUnsupported: boolean;
  quiet: boolean;
}

export const PRESETS: Record<Preset, Partial<QuantizeOptions>> = {
  lybrand: { alphabet: 'lybrand', scalar: 3, deadInput: 'zero', shortcut: true, convMode: 'channel', retainRate: 1, columnOrder: 'hwc', freshPerLayer: false, tie: 'lower' },
  zzs: { alphabet: 'zzs-linspace', scalar: 1.16, percentile: 1, deadInput: 'q0', shortcut: true, convMode: 'zzs', retainRate: 0.25, columnOrder: 'chw', freshPerLayer: true, tie: 'lower' },
  modern: { alphabet: 'zzs-uniform', scalar: 1.16, percentile: 1, deadInput: 'q0', shortcut: false, convMode: 'filter', retainRate: 1, columnOrder: 'hwc', freshPerLayer: false, tie: 'upper' },
};

const BASE: Omit<QuantizeOptions, keyof (typeof PRESETS)['lybrand']> & Partial<QuantizeOptions> = {
  method: 'gpfq',
  preset: 'lybrand',
  bits: 4,
  percentile: 1,
  batchSize: 256,
  seed: 0,
  algorithm: 'auto',
  precision: 'float32',
  backend: 'auto',
  threads: 0,
  quantizer: 'nearest',
  lambda: 0,
  skipLayers: [],
  keepLastFloat: false,
  skipUnsupported: false,
  quiet: false,
};

function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) {
    throw new QnnError('QNN_E_RANGE', `--${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
  }
  return v as T;
}

function num(name: string, v: unknown, lo: number, hi: number, integer = false): number {
  if (typeof v !== 'number' || !(v >= lo && v <= hi) || (integer && !Number.isInteger(v))) {
    throw new QnnError('QNN_E_RANGE', `--${name} must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}] (got ${String(v)})`);
  }
  return v;
}

/** Fills defaults (base, then the preset, then what the caller set) and validates everything. */
export function resolveOptions(user: Partial<QuantizeOptions>): QuantizeOptions {
  const preset = oneOf('preset', user.preset ?? 'lybrand', ['lybrand', 'zzs', 'modern'] as const);
  const defined = Object.fromEntries(Object.entries(user).filter(([, v]) => v !== undefined)) as Partial<QuantizeOptions>;
  const o = { ...BASE, ...PRESETS[preset], ...defined, preset } as QuantizeOptions;
  oneOf('method', o.method, ['gpfq', 'msq'] as const);
  for (const [name, v] of [['bits', o.bits], ['dense-bits', o.denseBits], ['conv-bits', o.convBits]] as const) {
    if (v !== undefined) num(name, v, 1, 16);
  }
  for (const [name, v] of [['scalar', o.scalar], ['dense-scalar', o.denseScalar], ['conv-scalar', o.convScalar]] as const) {
    if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) {
      throw new QnnError('QNN_E_RANGE', `--${name} must be a number > 0 (got ${String(v)})`);
    }
  }
  oneOf('alphabet', o.alphabet, ['lybrand', 'zzs-linspace', 'zzs-uniform'] as const);
  if (!(o.percentile > 0 && o.percentile <= 1)) throw new QnnError('QNN_E_RANGE', `--percentile must be in (0, 1] (got ${o.percentile})`);
  if (o.samples !== undefined) num('samples', o.samples, 1, 1e9, true);
  num('batch-size', o.batchSize, 1, 1e6, true);
  num('seed', o.seed, 0, 0xffffffff, true);
  oneOf('algorithm', o.algorithm, ['auto', 'direct', 'gram'] as const);
  oneOf('precision', o.precision, ['float32', 'float64'] as const);
  oneOf('backend', o.backend, ['auto', 'native', 'cuda', 'js'] as const);
  num('threads', o.threads, 0, 256, true);
  oneOf('dead-input', o.deadInput, ['q0', 'zero'] as const);
  oneOf('tie', o.tie, ['lower', 'upper'] as const);
  oneOf('quantizer', o.quantizer, ['nearest', 'stochastic', 'l1'] as const);
  num('lambda', o.lambda, 0, 1e9);
  oneOf('conv-mode', o.convMode, ['filter', 'channel', 'zzs'] as const);
  num('retain-rate', o.retainRate, 1e-9, 1);
  oneOf('column-order', o.columnOrder, ['hwc', 'chw'] as const);
  return o;
}
