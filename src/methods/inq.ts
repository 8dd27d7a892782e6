/**
 * The rules of Incremental Network Quantization (Zhou et al., ICLR 2017) as Mxbonn/INQ-pytorch
 * implements them (ALGORITHMS.md §6, §11.18–19): the per-tensor exponent range, the per-weight
 * power-of-two rule, the weight partition (which weights to freeze next), the schedule check, an
 * exact integer export format and the export grid. The training loop (masked SGD) lives elsewhere;
 * these functions are pure.
 */
import { QnnError } from '../errors';
import { checkF32, checkFinite, checkInt, checkOneOf } from '../engine/validate';
import { Rng32 } from '../util/rng';
import { exactGrid, ValueGrid } from './grid';

/** The exponent range of one tensor: its non-zero levels are ±2^i for n2 ≤ i ≤ n1. */
export interface InqExponents {
  n1: number;
  n2: number;
}

/** Which weights to freeze next: 'pruning' freezes the largest magnitudes, 'random' a random subset. */
export type InqStrategy = 'pruning' | 'random';

/** The previous partition step, for accumulating masks. */
export interface InqPrevious {
  /** Mask returned by the previous step (1 = free, 0 = frozen). */
  mask: Uint8Array;
  /** The accumulated portion that step used. */
  sigma: number;
}

/** A tensor of INQ values in the export format: per tensor n1 and bits, per weight one code. */
export interface InqEncoded {
  /** 0 = zero; otherwise sign · 2^(bits−1) + (n1 − exponent + 1). Uint8Array for bits ≤ 8. */
  codes: Uint8Array | Uint16Array;
  n1: number;
  bits: number;
}

/** Exactly floor(log2(y)) for a positive finite double. */
function floorLog2(y: number): number {
  let e = Math.floor(Math.log2(y));
  if (2 ** e > y) e -= 1;
  else if (2 ** (e + 1) <= y) e += 1;
  return e;
}

/** The smallest exponent of a `bits`-bit tensor whose largest is n1: n1 + 1 − 2^(bits−2). */
function lowestExponent(n1: number, bits: number): number {
  return Math.trunc(n1 + 1 - 2 ** (bits - 1) / 2);
}

/**
 * n1 = floor(log2(4·maxAbs / 3)) and n2 = int(n1 + 1 − 2^(bits−1) / 2), with Python's int()
 * truncation toward zero (the argument is an integer for every bits ≥ 2, so it never rounds; bits
 * = 1 would give n2 > n1 for n1 < 0, an empty level set, and is rejected). bits = 5 gives
 * n2 = n1 − 7: 17 values {0, ±2^n2, …, ±2^n1}. log2 is exact here; the reference's
 * math.log(x, 2) (a ratio of natural logs) is one too low when 4·maxAbs/3 is exactly 2^k for some
 * k ≤ −29 (e.g. k = −29, −31, −39), magnitudes no real weight tensor has.
 * maxAbs must be finite and > 0 (QNN_E_VALUE: an all-zero tensor has no exponent range; keep it
 * in full precision) with 2^n1 a finite float32 (maxAbs < 0.75 · 2^128); bits in [2, 16].
 */
export function inqExponents(maxAbs: number, bits: number): InqExponents {
  checkInt('bits', bits, 2, 16);
  if (typeof maxAbs !== 'number' || !Number.isFinite(maxAbs) || maxAbs < 0) {
    throw new QnnError('QNN_E_RANGE', `\`maxAbs\` must be a finite number >= 0 (the tensor's max |w|), got ${String(maxAbs)}`);
  }
  if (maxAbs === 0) {
    throw new QnnError('QNN_E_VALUE', 'an all-zero tensor (maxAbs = 0) has no INQ exponent range', {
      hint: 'Keep this tensor in full precision',
    });
  }
  const n1 = floorLog2((4 * maxAbs) / 3);
  if (n1 > 127) {
    throw new QnnError('QNN_E_RANGE', `maxAbs = ${maxAbs} needs the level 2^${n1}, which overflows float32`);
  }
  return { n1, n2: lowestExponent(n1, bits) };
}

const MIN_EXPONENT = -(2 ** 20);

function checkExponents(n1: number, n2: number): void {
  checkInt('n1', n1, MIN_EXPONENT, 127);
  checkInt('n2', n2, MIN_EXPONENT, n1);
}

function checkMask(name: string, mask: unknown, n: number): Uint8Array {
  if (!(mask instanceof Uint8Array) || mask.length !== n) {
    throw new QnnError('QNN_E_TYPE', `\`${name}\` must be a Uint8Array of ${n} entries (1 = free, 0 = frozen)`);
  }
  for (let i = 0; i < n; i++) {
    if (mask[i] > 1) throw new QnnError('QNN_E_VALUE', `\`${name}\` holds ${mask[i]} at index ${i}; use 1 (free) or 0 (frozen)`);
  }
  return mask;
}

/**
 * The per-weight INQ rule: |w| in [2^(n2−1), 1.5·2^n2) → ±2^n2; in [0.75·2^i, 1.5·2^i) → ±2^i for
 * n2 < i ≤ n1; anything smaller, or ≥ 1.5·2^n1, → 0. The last case cannot occur at the start
 * (n1 comes from the largest weight) but can after retraining, since n1 and n2 are never
 * recomputed: such a weight becomes 0, as in the reference. Levels below 2^−149 round to 0 in
 * float32. With `mask`, only frozen weights (mask 0) are quantized and free ones (1) are copied.
 */
export function inqQuantize(w: Float32Array, n1: number, n2: number, mask?: Uint8Array): Float32Array {
  const v = checkF32('weights', w);
  checkExponents(n1, n2);
  const m = mask === undefined ? undefined : checkMask('mask', mask, v.length);
  checkFinite('weights', v);
  const out = new Float32Array(v.length);
  const floorLevel = 2 ** (n2 - 1);
  for (let i = 0; i < v.length; i++) {
    if (m && m[i] === 1) {
      out[i] = v[i];
      continue;
    }
    const a = Math.abs(v[i]);
    if (a === 0 || a < floorLevel) continue;
    const e = Math.max(n2, floorLog2(a / 0.75));
    if (e > n1) continue;
    out[i] = Math.fround(v[i] < 0 ? -(2 ** e) : 2 ** e);
  }
  return out;
}

/**
 * Checks an INQ schedule of accumulated portions (e.g. [0.5, 0.75, 0.875, 1]): strictly
 * increasing, each in (0, 1], ending at 1. Returns a copy; otherwise throws QNN_E_RANGE.
 */
export function inqSchedule(portions: readonly number[]): number[] {
  const show = () => JSON.stringify(portions);
  if (!Array.isArray(portions) || portions.length === 0) {
    throw new QnnError('QNN_E_RANGE', `the INQ schedule must be a non-empty array of accumulated portions (got ${String(portions)})`, {
      hint: 'For example [0.5, 0.75, 0.875, 1]',
    });
  }
  portions.forEach((p, i) => {
    if (typeof p !== 'number' || !(p > 0 && p <= 1)) {
      throw new QnnError('QNN_E_RANGE', `INQ portion ${i} is ${String(p)}; every portion must be in (0, 1] (schedule ${show()})`);
    }
    if (i > 0 && !(p > portions[i - 1])) {
      throw new QnnError(
        'QNN_E_RANGE',
        `INQ portions must increase strictly: portion ${i} (${p}) is not above ${portions[i - 1]} (schedule ${show()})`,
      );
    }
  });
  if (portions[portions.length - 1] !== 1) {
    throw new QnnError('QNN_E_RANGE', `the last INQ portion must be 1, so that every weight ends up quantized (schedule ${show()})`);
  }
  return [...portions];
}

/** numpy.quantile(a, q) (method 'linear') of the ascending float32 values, evaluated as NumPy 2
 * does for float32 input and a Python-float q: index in float64, interpolation in float32. */
function quantileLinearF32(sorted: Float32Array, q: number): number {
  const n = sorted.length;
  const virt = (n - 1) * q;
  if (virt >= n - 1) return sorted[n - 1];
  const prev = Math.floor(virt);
  const gamma = virt - prev;
  const a = sorted[prev];
  const b = sorted[prev + 1];
  const diff = Math.fround(b - a);
  return gamma >= 0.5
    ? Math.fround(b - Math.fround(diff * Math.fround(1 - gamma)))
    : Math.fround(a + Math.fround(diff * Math.fround(gamma)));
}

/**
 * The partition step for accumulated portion `sigma` ∈ (0, 1]: a mask with 1 = free (keeps
 * training) and 0 = frozen (quantized).
 * - 'pruning': the threshold is numpy.quantile(|W|, 1 − sigma) (linear interpolation, compared in
 *   float32 as the reference's torch comparison does) and every |w| ≥ threshold is frozen. The
 *   reference recomputes this from the current magnitudes each step, so a frozen weight can come
 *   free again (§11.18); pass `prev` to keep previously frozen weights frozen instead.
 * - 'random': every weight draws u in [0, 1) from Rng32(seed) (in index order, frozen ones too)
 *   and is frozen when u ≤ (sigma − prev.sigma) / (1 − prev.sigma) (sigma alone on the first
 *   step; 1 on the last), or when `prev.mask` already froze it. Use a different seed per step.
 */
export function inqPartition(w: Float32Array, sigma: number, strategy: InqStrategy, seed = 0, prev?: InqPrevious): Uint8Array {
  const v = checkF32('weights', w);
  if (v.length === 0) throw new QnnError('QNN_E_EMPTY', '`weights` must hold at least one value');
  checkFinite('weights', v);
  if (typeof sigma !== 'number' || !(sigma > 0 && sigma <= 1)) {
    throw new QnnError('QNN_E_RANGE', `\`sigma\` (the accumulated portion to freeze) must be in (0, 1], got ${String(sigma)}`);
  }
  const kind = checkOneOf('strategy', strategy, ['pruning', 'random'] as const, 'pruning');
  checkInt('seed', seed, 0, 0xffffffff);
  let prevMask: Uint8Array | undefined;
  let prevSigma = 0;
  if (prev !== undefined) {
    prevMask = checkMask('prev.mask', prev.mask, v.length);
    prevSigma = prev.sigma;
    if (typeof prevSigma !== 'number' || !(prevSigma > 0 && prevSigma < sigma)) {
      throw new QnnError('QNN_E_RANGE', `\`prev.sigma\` must be in (0, sigma) = (0, ${sigma}), got ${String(prevSigma)}`);
    }
  }
  const mask = new Uint8Array(v.length);
  if (kind === 'pruning') {
    const mags = v.map(Math.abs).sort();
    const threshold = quantileLinearF32(mags, 1 - sigma);
    for (let i = 0; i < v.length; i++) mask[i] = Math.abs(v[i]) >= threshold || prevMask?.[i] === 0 ? 0 : 1;
  } else {
    const p = (sigma - prevSigma) / (1 - prevSigma);
    const rng = new Rng32(seed);
    for (let i = 0; i < v.length; i++) mask[i] = rng.uniform() <= p || prevMask?.[i] === 0 ? 0 : 1;
  }
  return mask;
}

/**
 * Export encoding of INQ values (the format ALGORITHMS.md §6 recommends): per tensor n1 and bits,
 * per weight 0 for zero and otherwise a sign bit (2^(bits−1)) plus n1 − exponent + 1 in the low
 * bits − 1 bits. Exponents range over [n1 + 1 − 2^(bits−2), n1], so every level, including
 * exponents ≥ 0 (which the reference derivative's int8 export decodes wrongly), round-trips
 * exactly through {@link decodeInq}. A value that is not 0 or ±2^i with i in that range is
 * QNN_E_VALUE.
 */
export function encodeInq(values: Float32Array, n1: number, bits: number): InqEncoded {
  const v = checkF32('values', values);
  checkInt('bits', bits, 2, 16);
  checkInt('n1', n1, MIN_EXPONENT, 127);
  const n2 = lowestExponent(n1, bits);
  const codes = bits <= 8 ? new Uint8Array(v.length) : new Uint16Array(v.length);
  const signBit = 2 ** (bits - 1);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x === 0) continue;
    const a = Math.abs(x);
    const e = Number.isFinite(a) ? floorLog2(a) : NaN;
    if (!(2 ** e === a && e >= n2 && e <= n1)) {
      throw new QnnError('QNN_E_VALUE', `\`values[${i}]\` = ${x} is not 0 or ±2^i with ${n2} <= i <= ${n1} (n1 = ${n1}, bits = ${bits})`, {
        hint: 'Encode the output of inqQuantize() with the n1 and bits of inqExponents()',
      });
    }
    codes[i] = (x < 0 ? signBit : 0) + (n1 - e + 1);
  }
  return { codes, n1, bits };
}

/** Decodes {@link encodeInq}'s codes back to the float32 INQ values. Codes outside the format
 * (≥ 2^bits, a magnitude field above 2^(bits−2), or a sign bit on a zero field) are QNN_E_VALUE. */
export function decodeInq(encoded: InqEncoded): Float32Array {
  if (typeof encoded !== 'object' || encoded === null) throw new QnnError('QNN_E_TYPE', '`encoded` must be {codes, n1, bits}');
  const { codes, n1, bits } = encoded;
  checkInt('bits', bits, 2, 16);
  checkInt('n1', n1, MIN_EXPONENT, 127);
  if (!(codes instanceof Uint8Array || codes instanceof Uint16Array)) {
    throw new QnnError('QNN_E_TYPE', '`encoded.codes` must be a Uint8Array or Uint16Array');
  }
  const signBit = 2 ** (bits - 1);
  const fields = 2 ** (bits - 2);
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) continue;
    const negative = c >= signBit;
    const field = negative ? c - signBit : c;
    if (c >= 2 * signBit || field === 0 || field > fields) {
      throw new QnnError('QNN_E_VALUE', `\`encoded.codes[${i}]\` = ${c} is not a valid ${bits}-bit INQ code`);
    }
    const level = 2 ** (n1 - field + 1);
    out[i] = Math.fround(negative ? -level : level);
  }
  return out;
}

/**
 * The export grid of INQ values: every value is a multiple of 2^n2 in [−2^n1, 2^n1], so
 * step = 2^n2, min = −2^n1 and codes = (value + 2^n1) / 2^n2 ∈ [0, 2^(n1−n2+1)] (257 codes at
 * 5 bits: uint16). Undefined unless Math.fround(code · step + min) reproduces every value.
 */
export function inqGrid(values: Float32Array, n1: number, n2: number): ValueGrid | undefined {
  const v = checkF32('values', values);
  checkExponents(n1, n2);
  const step = 2 ** n2;
  const min = -(2 ** n1);
  const codes = new Uint32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const c = (v[i] - min) / step;
    if (!(Number.isInteger(c) && c >= 0 && c <= 0xffffffff)) return undefined;
    codes[i] = c;
  }
  return exactGrid(v, codes, step, min);
}
