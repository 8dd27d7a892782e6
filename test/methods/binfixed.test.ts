/**
 * Bin and fixed-point quantization (ALGORITHMS.md §5, §11.20): the golden vectors of §5 and
 * hand-derived cases for every edge, the export grids and the error summary.
 */
import { binQuantize, errorSummary, fixedPointQuantize } from '../../src';
import { throwsCode } from '../helpers';

const f32 = (a: number[]) => Float32Array.from(a);
const list = (a: ArrayLike<number>) => Array.from(a);


/** Every grid must decode to the values exactly (TF.js: fround(code · scale + min)). */
function expectGridDecodes(r: { values: Float32Array; grid?: { step: number; min: number; codes: Uint32Array } }): void {
  expect(r.grid).toBeDefined();
  const g = r.grid!;
  for (let i = 0; i < r.values.length; i++) expect(Math.fround(g.codes[i] * g.step + g.min)).toBe(r.values[i]);
}

describe('binQuantize', () => {
  it('golden vector of §5: b = 2, x = [−1, −0.2, 0, 0.3, 1]', () => {
    const r = binQuantize(f32([-1, -0.2, 0, 0.3, 1]), 2);
    expect(list(r.codes)).toEqual([0b00, 0b01, 0b10, 0b10, 0b11]);
    expect(list(r.values)).toEqual([-0.75, -0.25, 0.25, 0.25, 0.75]);
    expect(r.lo).toBe(-1);
    expect(r.width).toBe(0.5);
    expectGridDecodes(r);
    expect(r.grid!.step).toBe(0.5);
    expect(r.grid!.min).toBe(-0.75);
  });

  // lo = 0, width = 1: bins [0,1) [1,2) [2,3) [3,4]; a bin edge belongs to the bin on its right,
  // and max belongs to the last bin.
  it('bins are half-open and the last one is closed', () => {
    const r = binQuantize(f32([0, 1, 2, 3, 4, 0.999, 3.5]), 2);
    expect(list(r.codes)).toEqual([0, 1, 2, 3, 3, 0, 3]);
    expect(list(r.values)).toEqual([0.5, 1.5, 2.5, 3.5, 3.5, 0.5, 3.5]);
  });

  it('min == max: every code is 2^b − 1 and every value is min', () => {
    const r = binQuantize(f32([2.5, 2.5, 2.5]), 3);
    expect(list(r.codes)).toEqual([7, 7, 7]);
    expect(list(r.values)).toEqual([2.5, 2.5, 2.5]);
    expect(r.width).toBe(0);
    expectGridDecodes(r);
  });

  // lo = −3, hi = 1, x = 1 − 2^−24: x − lo = 3.99999994 rounds to 4.0 in float32, so the floor
  // division gives exactly 2^b. The reference's uint8 cast wraps 256 to 0 (b = 8) and b = 2
  // writes a 3-character string; here both clamp to the top code.
  it('the code 2^b from float32 rounding just below max is clamped to 2^b − 1', () => {
    const below = 1 - 2 ** -24;
    expect(Math.fround(below - -3)).toBe(4);
    const r8 = binQuantize(f32([-3, below, 1]), 8);
    expect(list(r8.codes)).toEqual([0, 255, 255]);
    expect(r8.values[1]).toBe(Math.fround(-3 + 255.5 / 64));
    const r2 = binQuantize(f32([-3, below, 1]), 2);
    expect(list(r2.codes)).toEqual([0, 3, 3]);
  });

  it('bits = 1 and bits = 32', () => {
    const r1 = binQuantize(f32([-1, 0, 1]), 1);
    expect(list(r1.codes)).toEqual([0, 1, 1]);
    expect(list(r1.values)).toEqual([-0.5, 0.5, 0.5]);
    const r32 = binQuantize(f32([0, 1, 0.5]), 32);
    expect(list(r32.codes)).toEqual([0, 2 ** 32 - 1, 2 ** 31]);
    expect(r32.values[0]).toBe(2 ** -33);
    expect(r32.values[1]).toBe(1); // 1 − 2^−33 rounds up in float32
    expectGridDecodes(r32);
  });

  it('argument checks', () => {
    throwsCode(() => binQuantize(f32([1]), 0), 'QNN_E_RANGE', /bits/);
    throwsCode(() => binQuantize(f32([1]), 33), 'QNN_E_RANGE', /bits/);
    throwsCode(() => binQuantize(new Float32Array(0), 4), 'QNN_E_EMPTY');
    throwsCode(() => binQuantize(f32([1, NaN]), 4), 'QNN_E_VALUE', /NaN/);
    throwsCode(() => binQuantize([1, 2] as unknown as Float32Array, 4), 'QNN_E_TYPE');
    throwsCode(() => binQuantize(f32([-3e38, 3e38]), 4), 'QNN_E_VALUE', /overflows float32/);
  });
});

describe('fixedPointQuantize', () => {
  it('golden vector of §5: b = 8, x = [−0.35, −0.1, 0, 0.2, 0.42]', () => {
    const r = fixedPointQuantize(f32([-0.35, -0.1, 0, 0.2, 0.42]), 8);
    expect([r.shift, r.fracBits, r.signed]).toEqual([1, 4, true]);
    expect(list(r.codes)).toEqual([0b10111000, 0b10010000, 0b00000000, 0b00100000, 0b01000011]);
    expect(list(r.values)).toEqual(list(f32([-0.35, -0.1, 0, 0.2, 0.41875])));
    expect(r.saturated).toBe(0);
    expectGridDecodes(r);
  });

  it('golden vector of §5: b = 4, x = [0.5, 2.5, 3.0, −1.25] (−2.5 rounds half to even)', () => {
    const r = fixedPointQuantize(f32([0.5, 2.5, 3.0, -1.25]), 4);
    expect([r.shift, r.fracBits, r.signed]).toEqual([0, 1, true]);
    expect(list(r.codes)).toEqual([0b0001, 0b0101, 0b0110, 0b1010]);
    expect(list(r.values)).toEqual([0.5, 2.5, 3.0, -1.0]);
    // signed grid: offset binary k + 7, step 1/2, min −3.5
    expect(list(r.grid!.codes)).toEqual([8, 12, 13, 5]);
    expect(r.grid!.min).toBe(-3.5);
    expectGridDecodes(r);
  });

  it('golden vector of §5: b = 4, x = [0.5, 2.5, 3.0, 1.25] (unsigned, exact)', () => {
    const r = fixedPointQuantize(f32([0.5, 2.5, 3.0, 1.25]), 4);
    expect([r.shift, r.fracBits, r.signed]).toEqual([0, 2, false]);
    expect(list(r.codes)).toEqual([0b0010, 0b1010, 0b1100, 0b0101]);
    expect(list(r.values)).toEqual([0.5, 2.5, 3.0, 1.25]);
    expect(list(r.grid!.codes)).toEqual(list(r.codes));
  });

  // max = 1: shift 0, intBits 1, unsigned, fracBits 3; x·8 = 8, .5, 1.5, 2.5, 3.5 → 8, 0, 2, 2, 4.
  it('ties round half to even', () => {
    const r = fixedPointQuantize(f32([1, 0.0625, 0.1875, 0.3125, 0.4375]), 4);
    expect(r.fracBits).toBe(3);
    expect(list(r.codes)).toEqual([8, 0, 2, 2, 4]);
    expect(list(r.values)).toEqual([1, 0, 0.25, 0.25, 0.5]);
  });

  // max = 0.05 (float32 0.0500000007): ×10 → 0.5, ×10 → 5.0: shift 2 (decimal), intBits 3,
  // fracBits 5; k = round(x · 100 · 32) = 160, 80, 40 and k · 2^−5 · 10^−2 gives x back.
  it('the pre-shift is decimal', () => {
    const x = f32([0.05, 0.025, 0.0125]);
    const r = fixedPointQuantize(x, 8);
    expect([r.shift, r.fracBits, r.signed]).toEqual([2, 5, false]);
    expect(list(r.codes)).toEqual([160, 80, 40]);
    expect(list(r.values)).toEqual(list(x));
    expectGridDecodes(r);
  });

  // max = 100: intBits 7 > bits, fracBits = −3: k = round(x / 8): 12.5 → 12, 4.625 → 5.
  it('fracBits can be negative', () => {
    const r = fixedPointQuantize(f32([100, 37]), 4);
    expect([r.shift, r.fracBits]).toEqual([0, -3]);
    expect(list(r.codes)).toEqual([12, 5]);
    expect(list(r.values)).toEqual([96, 40]);
    expect(r.grid!.step).toBe(8);
  });

  // max = 15.7: intBits 4, fracBits 0: round(15.7) = 16 = 2^4 → 15 (the reference's clamp).
  it('positive values saturate at 2^(b − signed) − 1', () => {
    const r = fixedPointQuantize(f32([15.7, 1]), 4);
    expect(list(r.codes)).toEqual([15, 1]);
    expect(list(r.values)).toEqual([15, 1]);
    expect(r.saturated).toBe(1);
  });

  // Widths come from |max| only. x = [−5, 3], b = 4: intBits 2, signed, fracBits 1: −5 → k = −10,
  // which needs 4 magnitude bits; it saturates to −7 (code 8 + 7 = 15, value −3.5).
  // x = [−2, −1], b = 8: max = −1 → intBits 1, fracBits 6: −2 → −128 → −127 (−1.984375).
  it('too-wide negative magnitudes saturate symmetrically', () => {
    const r = fixedPointQuantize(f32([-5, 3]), 4);
    expect([r.fracBits, r.signed]).toEqual([1, true]);
    expect(list(r.codes)).toEqual([15, 6]);
    expect(list(r.values)).toEqual([-3.5, 3]);
    expect(r.saturated).toBe(1);
    const n = fixedPointQuantize(f32([-2, -1]), 8);
    expect(list(n.codes)).toEqual([128 + 127, 128 + 64]);
    expect(list(n.values)).toEqual([-1.984375, -1]);
    expect(n.saturated).toBe(1);
  });

  // max = 0 never terminates in the reference. Here |min| = 0.5 sizes the format: shift 1,
  // intBits 3, signed, fracBits 0; −0.25 · 10 = −2.5 rounds to −2.
  it('max == 0: the format comes from |min|; an all-zero tensor is all zero codes', () => {
    const r = fixedPointQuantize(f32([-0.5, -0.25, 0]), 4);
    expect([r.shift, r.fracBits, r.signed]).toEqual([1, 0, true]);
    expect(list(r.codes)).toEqual([8 + 5, 8 + 2, 0]);
    expect(list(r.values)).toEqual(list(f32([-0.5, -0.2, 0])));
    const z = fixedPointQuantize(f32([0, -0, 0]), 8);
    expect([z.shift, z.fracBits, z.signed, z.saturated]).toEqual([0, 8, false, 0]);
    expect(list(z.codes)).toEqual([0, 0, 0]);
    expect(list(z.values)).toEqual([0, 0, 0]);
    // −0.3 rounds to 0 (not −0): code 0, value +0
    expect(Object.is(fixedPointQuantize(f32([-0.3, 1]), 2).values[0], 0)).toBe(true);
  });

  it('bits = 32 keeps the sign bit in a Uint32Array', () => {
    const r = fixedPointQuantize(f32([-1, 1, -0.3]), 32);
    expect(r.fracBits).toBe(30);
    expect(list(r.codes)).toEqual([2 ** 31 + 2 ** 30, 2 ** 30, 2 ** 31 + Math.fround(0.3) * 2 ** 30]);
    expect(r.values[0]).toBe(-1);
    expect(r.values[1]).toBe(1);
  });

  it('argument checks', () => {
    throwsCode(() => fixedPointQuantize(f32([1]), 1), 'QNN_E_RANGE', /bits/);
    throwsCode(() => fixedPointQuantize(f32([1]), 33), 'QNN_E_RANGE', /bits/);
    throwsCode(() => fixedPointQuantize(new Float32Array(0), 8), 'QNN_E_EMPTY');
    throwsCode(() => fixedPointQuantize(f32([Infinity]), 8), 'QNN_E_VALUE', /Infinity/);
  });
});

describe('errorSummary', () => {
  it('min, max and mean of 100 · ||deq − orig|| / ||orig|| over tensors', () => {
    const s = errorSummary([f32([3, 4]), f32([1, 0]), f32([0, 2])], [f32([3, 4]), f32([1, 1]), f32([0, 1.5])]);
    expect(list(s.errors)).toEqual([0, 100, 25]);
    expect([s.min, s.max]).toEqual([0, 100]);
    expect(s.mean).toBeCloseTo(125 / 3, 12);
  });

  it('summarises a quantizer run (the golden bin vector)', () => {
    const x = f32([-1, -0.2, 0, 0.3, 1]);
    const s = errorSummary([x], [binQuantize(x, 2).values]);
    // diff = (.25, −.05, .25, −.05, −.25): 100 · sqrt(.1925 / 2.13) (up to float32 inputs)
    expect(s.mean).toBeCloseTo(100 * Math.sqrt(0.1925 / 2.13), 4);
  });

  it('an all-zero original is 0 when reproduced exactly and Infinity otherwise (no 0 / 0)', () => {
    expect(errorSummary([f32([0, 0])], [f32([0, 0])]).errors[0]).toBe(0);
    const s = errorSummary([f32([0]), f32([1])], [f32([0.5]), f32([1])]);
    expect(list(s.errors)).toEqual([Infinity, 0]);
    expect(s.max).toBe(Infinity);
  });

  it('argument checks', () => {
    throwsCode(() => errorSummary([], []), 'QNN_E_EMPTY');
    throwsCode(() => errorSummary([f32([1])], []), 'QNN_E_SHAPE');
    throwsCode(() => errorSummary([f32([1, 2])], [f32([1])]), 'QNN_E_SHAPE');
    throwsCode(() => errorSummary(f32([1]) as unknown as Float32Array[], [f32([1])]), 'QNN_E_TYPE');
  });
});
