/**
 * Bin and fixed-point quantization of one tensor, and the relative-error summary, as the
 * bgrochal/NNQuantization reference computes them (ALGORITHMS.md §5, §11.20). Each input is a
 * flattened float32 tensor; the arithmetic follows the reference's NumPy 1.x evaluation (float32
 * tensor values and differences, float64 for everything mixed with Python numbers). Where the
 * reference is broken, the behaviour is defined here and documented on each function.
 */
import { QnnError } from '../errors';
import { checkF32, checkFinite, checkInt } from '../engine/validate';
import { roundHalfEven } from '../reference/quantizer';
import { exactGrid, ValueGrid } from './grid';

export interface BinQuantized {
  /** Bin index per value, in [0, 2^bits − 1]. */
  codes: Uint32Array;
  /** Bin centres, Math.fround(lo + (code + 0.5) · width). */
  values: Float32Array;
  /** min(x). */
  lo: number;
  /** (max − min) / 2^bits: the float32 difference divided exactly, kept as a double. */
  width: number;
  /** {step: width, min: lo + width / 2, codes} when it reproduces `values` exactly. */
  grid?: ValueGrid;
}

export interface FixedPointQuantized {
  /** Sign-magnitude integers: signed → sign · 2^(bits−1) + |k| with |k| < 2^(bits−1); unsigned → k < 2^bits. */
  codes: Uint32Array;
  /** Math.fround(k · 2^−fracBits · 10^−shift). */
  values: Float32Array;
  /** Decimal pre-shift s: |max| is multiplied by 10 until it is at least 1. */
  shift: number;
  /** bits − intBits − (signed ? 1 : 0); may be negative. */
  fracBits: number;
  /** True when min(x) < 0 (a sign bit is spent). */
  signed: boolean;
  /** How many values were clamped to the largest magnitude (2^(bits − signed) − 1). */
  saturated: number;
  /** {step: 2^−fracBits · 10^−shift, min, codes} (offset binary: k + 2^(bits−1) − 1 when signed,
   * k when unsigned) when it reproduces `values` exactly. */
  grid?: ValueGrid;
}

export interface ErrorSummary {
  /** Per tensor 100 · ||deq − orig||₂ / ||orig||₂ (0 for an all-zero tensor reproduced exactly,
   * Infinity for an all-zero tensor that was not). */
  errors: Float64Array;
  min: number;
  max: number;
  mean: number;
}

function checkTensor(x: unknown): Float32Array {
  const v = checkF32('x', x);
  if (v.length === 0) throw new QnnError('QNN_E_EMPTY', '`x` must hold at least one value');
  checkFinite('x', v);
  return v;
}

function minMax(v: Float32Array): [number, number] {
  let lo = v[0];
  let hi = v[0];
  for (let i = 1; i < v.length; i++) {
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
  }
  return [lo, hi];
}

/** NumPy's float64 floor division (npy_divmod) for a ≥ 0 and b > 0: the floor of the exact quotient. */
function floorDivide(a: number, b: number): number {
  const mod = a % b;
  const div = (a - mod) / b;
  let floor = Math.floor(div);
  if (div - floor > 0.5) floor += 1;
  return floor;
}

/**
 * Bin quantization (ALGORITHMS.md §5, algorithm 1): lo = min, width = (max − min) / 2^bits; a
 * value below max gets floor((x − lo) / width) with x − lo rounded to float32 as in the reference;
 * max itself gets 2^bits − 1 (the last bin is closed). Bins are [lo + k·width, lo + (k+1)·width).
 * Values dequantize to their bin centre lo + (code + 0.5)·width.
 *
 * Defined edge cases: when min == max every code is 2^bits − 1 and every value is lo (no
 * division). A value just below max whose float32 difference x − lo rounds up to max − min would
 * get code 2^bits, which the reference's unsigned cast wraps to 0; here it is clamped to
 * 2^bits − 1. bits must be an integer in [1, 32] (QNN_E_RANGE); max − min must fit in float32
 * (QNN_E_VALUE otherwise).
 */
export function binQuantize(x: Float32Array, bits: number): BinQuantized {
  const v = checkTensor(x);
  checkInt('bits', bits, 1, 32);
  const [lo, hi] = minMax(v);
  const range = Math.fround(hi - lo);
  if (!Number.isFinite(range)) {
    throw new QnnError('QNN_E_VALUE', `\`x\` spans [${lo}, ${hi}], whose width overflows float32`, {
      hint: 'Bin quantization needs max − min to be a finite float32; rescale the tensor first',
    });
  }
  const top = 2 ** bits - 1;
  const width = range / 2 ** bits;
  const codes = new Uint32Array(v.length);
  const values = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const code = v[i] < hi ? Math.min(top, floorDivide(Math.fround(v[i] - lo), width)) : top;
    codes[i] = code;
    values[i] = Math.fround(lo + (code + 0.5) * width);
  }
  return { codes, values, lo, width, grid: exactGrid(values, codes, width, lo + 0.5 * width) };
}

/** Number of bits of the positive integer-valued double a (= floor(log2 a) + 1, exactly). */
function bitLength(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  return e + 1;
}

/**
 * Fixed-point quantization (ALGORITHMS.md §5, algorithm 2). With a = |max|: while a < 1, a *= 10
 * and shift += 1 (a decimal pre-shift, in double as Python does); signed = min < 0;
 * intBits = floor(log2(floor(a))) + 1 (computed exactly: the reference's natural-log formula
 * agrees for every float32 input); fracBits = bits − intBits − signed. Each value becomes
 * k = round-half-even(x · 10^shift · 2^fracBits), clamped to 2^(bits − signed) − 1 from above, and
 * dequantizes to k · 2^−fracBits · 10^−shift.
 *
 * Defined edge cases:
 * - max == 0 makes the reference loop forever. Here the format is then sized from |min| instead
 *   (the only non-zero magnitude); an all-zero tensor gets shift 0, fracBits = bits, codes 0.
 * - The width comes from |max| only, so negative values can need more than bits − 1 magnitude
 *   bits (e.g. x = [−5, 3]). The reference never clamps them (NumPy 2 then raises, older NumPy
 *   wrote a wider string); here they saturate to −(2^(bits−1) − 1), like the positive side, and are
 *   counted in `saturated`.
 * bits must be an integer in [2, 32] (QNN_E_RANGE).
 */
export function fixedPointQuantize(x: Float32Array, bits: number): FixedPointQuantized {
  const v = checkTensor(x);
  checkInt('bits', bits, 2, 32);
  const [lo, hi] = minMax(v);
  const signed = lo < 0;
  const sign = signed ? 1 : 0;
  const ref = hi === 0 ? Math.abs(lo) : Math.abs(hi);
  let shift = 0;
  let fracBits = bits;
  if (ref > 0) {
    let a = ref;
    while (a < 1) {
      a *= 10;
      shift += 1;
    }
    fracBits = bits - bitLength(Math.trunc(a)) - sign;
  }
  const up = shift === 0 ? 1 : Number(`1e${shift}`);
  const down = shift === 0 ? 1 : Number(`1e-${shift}`);
  const scale = 2 ** fracBits;
  const unscale = 2 ** -fracBits;
  const limit = 2 ** (bits - sign) - 1;
  const signBit = signed ? 2 ** (bits - 1) : 0;
  const offset = signed ? limit : 0;
  const codes = new Uint32Array(v.length);
  const values = new Float32Array(v.length);
  const gridCodes = new Uint32Array(v.length);
  let saturated = 0;
  for (let i = 0; i < v.length; i++) {
    let k = roundHalfEven(v[i] * up * scale) + 0; // + 0: the reference's int() has no −0 (−0.3 → +0)
    if (k > limit) {
      k = limit;
      saturated++;
    } else if (k < -limit) {
      k = -limit;
      saturated++;
    }
    codes[i] = k < 0 ? signBit - k : k;
    values[i] = Math.fround(k * unscale * down);
    gridCodes[i] = k + offset;
  }
  const step = unscale * down;
  return { codes, values, shift, fracBits, signed, saturated, grid: exactGrid(values, gridCodes, step, -offset * step) };
}

/**
 * The reference's summary over tensors of 100 · ||dequantized − original||₂ / ||original||₂: its
 * min, max and mean, plus the per-tensor values. Sums are in double (the reference sums in
 * float32, so only the last digits can differ from its printout). An all-zero original tensor
 * (0 / 0 in the reference) counts as 0 when it is reproduced exactly and as Infinity otherwise.
 */
export function errorSummary(originals: readonly Float32Array[], dequantized: readonly Float32Array[]): ErrorSummary {
  if (!Array.isArray(originals) || !Array.isArray(dequantized)) {
    throw new QnnError('QNN_E_TYPE', '`originals` and `dequantized` must be arrays of Float32Array (one per tensor)');
  }
  if (originals.length === 0) throw new QnnError('QNN_E_EMPTY', '`originals` must hold at least one tensor');
  if (originals.length !== dequantized.length) {
    throw new QnnError('QNN_E_SHAPE', `${originals.length} original tensors but ${dequantized.length} dequantized ones`);
  }
  const errors = new Float64Array(originals.length);
  for (let t = 0; t < originals.length; t++) {
    const o = checkF32(`originals[${t}]`, originals[t]);
    const d = checkF32(`dequantized[${t}]`, dequantized[t], o.length);
    checkFinite(`originals[${t}]`, o);
    checkFinite(`dequantized[${t}]`, d);
    let diff2 = 0;
    let ref2 = 0;
    for (let i = 0; i < o.length; i++) {
      const e = d[i] - o[i];
      diff2 += e * e;
      ref2 += o[i] * o[i];
    }
    errors[t] = ref2 > 0 ? (100 * Math.sqrt(diff2)) / Math.sqrt(ref2) : diff2 === 0 ? 0 : Infinity;
  }
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const e of errors) {
    min = Math.min(min, e);
    max = Math.max(max, e);
    sum += e;
  }
  return { errors, min, max, mean: sum / errors.length };
}
