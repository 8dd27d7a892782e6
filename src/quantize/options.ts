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

export type Method = 'gpfq' | 'gptq' | 'msq' | 'bin' | 'fixed-point' | 'inq';

/** Methods that quantize with a per-layer alphabet (and get an MSQ baseline with the same alphabets). */
export const ALPHABET_METHODS: readonly Method[] = ['gpfq', 'gptq', 'msq'];
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
  /** Per-layer bits (and scalar), by layer name; wins over the dense/conv and global settings. */
  bitsPerLayer?: Record<string, { bits?: number; scalar?: number }>;
  /** Bias correction (ZZS 4.6): b' = b + E[X]W − E[X~]Q for the last quantized (or float last) layer, or all. */
  biasCorrection: 'none' | 'last' | 'all';
  /** GPTQ (method 'gptq'): lazy block size, dampening (fraction of mean diag H), act-order. */
  gptqBlockSize: number;
  percDamp: number;
  actOrder: boolean;
  /** bin / fixed-point: quantize only kernels, or every trainable tensor (biases, BatchNorm γ/β too). */
  tensors: 'kernels' | 'all';
  /** INQ: accumulated portions, partition strategy, retraining epochs per portion and its settings. */
  inqIncrements: number[];
  inqStrategy: 'pruning' | 'random';
  inqEpochs: number;
  inqLearningRate: number;
  inqBatchSize: number;
  /** Training images for INQ / retraining (default: the whole train split). */
  trainSamples?: number;
  /** Fine-tune the not-yet-quantized layers for this many epochs after each quantized layer (0: off). */
  retrainEpochs: number;
  /** Retrain only once at least this many layers are quantized (ZZS: more than 10, i.e. 11). */
  retrainAfter: number;
  retrainLearningRate: number;
  alphabet: AlphabetKind;
  /** p of the ZZS radius. */
  percentile: number;
  /** Calibration samples (images) per layer; default: up to 10,000 for dense-only networks, 2048 with conv layers. */
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
  biasCorrection: 'none',
  gptqBlockSize: 128,
  percDamp: 0.01,
  actOrder: false,
  tensors: 'kernels',
  inqIncrements: [0.5, 0.75, 0.875, 1],
  inqStrategy: 'pruning',
  inqEpochs: 2,
  inqLearningRate: 0.001,
  inqBatchSize: 128,
  retrainEpochs: 0,
  retrainAfter: 0,
  retrainLearningRate: 1e-4,
};

/** ZZS retraining schedule (ALGORITHMS.md 4.7): 1 epoch of Adam 1e-4 once more than 10 layers are quantized. */
export const ZZS_RETRAIN_OPTIONS: Partial<QuantizeOptions> = { retrainEpochs: 1, retrainAfter: 11, retrainLearningRate: 1e-4 };

/** Bits allowed per method: alphabets 1..16; bin 1..16; fixed point 2..16; INQ 2..8. */
const BIT_RANGE: Record<Method, [number, number]> = {
  gpfq: [1, 16], gptq: [1, 16], msq: [1, 16], bin: [1, 16], 'fixed-point': [2, 16], inq: [2, 8],
};

/**
 * Parses a per-layer bits table: JSON ({"dense_1": 3, "conv2d_2": {"bits": 4, "scalar": 2}}) or
 * `name=bits[:scalar],...`.
 */
export function parseBitsPerLayer(text: string): Record<string, { bits?: number; scalar?: number }> {
  const out: Record<string, { bits?: number; scalar?: number }> = {};
  const bad = (why: string) => new QnnError('QNN_E_RANGE', `--bits-per-layer: ${why}`, { hint: 'use name=bits[:scalar],... or a JSON object {"name": bits}' });
  const t = text.trim();
  if (t.startsWith('{')) {
    let j: unknown;
    try {
      j = JSON.parse(t);
    } catch (e) {
      throw bad(`invalid JSON (${(e as Error).message})`);
    }
    for (const [name, v] of Object.entries(j as Record<string, unknown>)) {
      if (typeof v === 'number') out[name] = { bits: v };
      else if (v && typeof v === 'object') out[name] = { bits: (v as { bits?: number }).bits, scalar: (v as { scalar?: number }).scalar };
      else throw bad(`entry '${name}' must be a number or {bits, scalar}`);
    }
    return out;
  }
  for (const part of t.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=]+)=([0-9.eE+-]+)(?::([0-9.eE+-]+))?$/.exec(part);
    if (!m) throw bad(`cannot read '${part}'`);
    out[m[1].trim()] = { bits: Number(m[2]), scalar: m[3] === undefined ? undefined : Number(m[3]) };
  }
  return out;
}

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
  oneOf('method', o.method, ['gpfq', 'gptq', 'msq', 'bin', 'fixed-point', 'inq'] as const);
  const [lo, hi] = BIT_RANGE[o.method];
  for (const [name, v] of [['bits', o.bits], ['dense-bits', o.denseBits], ['conv-bits', o.convBits]] as const) {
    if (v !== undefined) num(name, v, lo, hi, o.method === 'bin' || o.method === 'fixed-point' || o.method === 'inq');
  }
  for (const [name, e] of Object.entries(o.bitsPerLayer ?? {})) {
    if (e.bits !== undefined) num(`bits-per-layer ${name}`, e.bits, lo, hi);
    if (e.scalar !== undefined && !(e.scalar > 0)) throw new QnnError('QNN_E_RANGE', `--bits-per-layer ${name}: scalar must be > 0`);
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
  oneOf('quantizer', o.quantizer, ['nearest', 'stochastic', 'l1', 'l0'] as const);
  num('lambda', o.lambda, 0, 1e9);
  oneOf('conv-mode', o.convMode, ['filter', 'channel', 'zzs'] as const);
  num('retain-rate', o.retainRate, 1e-9, 1);
  oneOf('column-order', o.columnOrder, ['hwc', 'chw'] as const);
  oneOf('bias-correction', o.biasCorrection, ['none', 'last', 'all'] as const);
  num('gptq-block-size', o.gptqBlockSize, 1, 65536, true);
  num('perc-damp', o.percDamp, 0, 1e6);
  oneOf('tensors', o.tensors, ['kernels', 'all'] as const);
  oneOf('inq-strategy', o.inqStrategy, ['pruning', 'random'] as const);
  num('inq-epochs', o.inqEpochs, 0, 1000, true);
  num('inq-lr', o.inqLearningRate, 1e-12, 10);
  num('inq-batch-size', o.inqBatchSize, 1, 1e6, true);
  if (o.trainSamples !== undefined) num('train-samples', o.trainSamples, 1, 1e9, true);
  num('retrain-epochs', o.retrainEpochs, 0, 1000, true);
  num('retrain-after', o.retrainAfter, 0, 1e6, true);
  num('retrain-lr', o.retrainLearningRate, 1e-12, 10);
  if (!Array.isArray(o.inqIncrements) || o.inqIncrements.length === 0) throw new QnnError('QNN_E_RANGE', '--inq-increments must list at least one portion');
  o.inqIncrements.forEach((v, i) => {
    if (!(v > 0 && v <= 1) || (i > 0 && !(v > o.inqIncrements[i - 1]))) {
      throw new QnnError('QNN_E_RANGE', `--inq-increments must increase strictly within (0, 1] (got ${o.inqIncrements.join(', ')})`);
    }
  });
  if (o.inqIncrements[o.inqIncrements.length - 1] !== 1) {
    throw new QnnError('QNN_E_RANGE', `--inq-increments must end at 1 so that every weight is quantized (got ${o.inqIncrements.join(', ')})`);
  }
  if (o.quantizer === 'l0' && !(o.lambda > 0)) throw new QnnError('QNN_E_RANGE', "--quantizer l0 needs --lambda > 0");
  return o;
}
