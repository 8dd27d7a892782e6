/**
 * INQ rules (ALGORITHMS.md §6, §11.18–19): exponents, the per-weight rule with its edges, the
 * partition strategies, the schedule check, the export encoding and the grid. Expected values are
 * derived by hand from the rules (the pruning thresholds were also checked against numpy.quantile).
 */
import { decodeInq, encodeInq, inqExponents, inqGrid, inqPartition, inqQuantize, inqSchedule, Rng32 } from '../../src';
import { throwsCode } from '../helpers';

const f32 = (a: number[]) => Float32Array.from(a);
const list = (a: ArrayLike<number>) => Array.from(a);


/** The reference's quantize_weight, literally: walk i = n2..n1 with alpha = previous level. */
function referenceWeight(w: number, n1: number, n2: number): number {
  let alpha = 0;
  let beta = 2 ** n2;
  const a = Math.abs(w);
  let q = 0;
  for (let i = n2; i <= n1; i++) {
    if (a >= (alpha + beta) / 2 && a < (3 * beta) / 2) q = w < 0 ? -beta : beta;
    alpha = 2 ** i;
    beta = 2 ** (i + 1);
  }
  return q;
}

describe('inqExponents', () => {
  it('n1 = floor(log2(4s/3)), n2 = n1 + 1 − 2^(b−1)/2', () => {
    expect(inqExponents(0.9, 5)).toEqual({ n1: 0, n2: -7 }); // 4·0.9/3 = 1.2
    expect(inqExponents(0.75, 5)).toEqual({ n1: 0, n2: -7 }); // exactly 1
    expect(inqExponents(0.7, 5)).toEqual({ n1: -1, n2: -8 });
    expect(inqExponents(3, 5)).toEqual({ n1: 2, n2: -5 }); // 4: exponents >= 0
    expect(inqExponents(3, 2)).toEqual({ n1: 2, n2: 2 }); // ternary {0, ±4}
    expect(inqExponents(3, 3)).toEqual({ n1: 2, n2: 1 });
    // 4s/3 = 2^−29 exactly: log2 is exact here (the reference's ln ratio gives −30)
    expect(inqExponents(0.75 * 2 ** -29, 5).n1).toBe(-29);
  });

  it('edge cases', () => {
    throwsCode(() => inqExponents(0, 5), 'QNN_E_VALUE', /all-zero/);
    throwsCode(() => inqExponents(-1, 5), 'QNN_E_RANGE', /maxAbs/);
    throwsCode(() => inqExponents(NaN, 5), 'QNN_E_RANGE', /maxAbs/);
    throwsCode(() => inqExponents(1, 1), 'QNN_E_RANGE', /bits/);
    throwsCode(() => inqExponents(1, 17), 'QNN_E_RANGE', /bits/);
    throwsCode(() => inqExponents(3e38, 5), 'QNN_E_RANGE', /overflows float32/);
    expect(inqExponents(2.5e38, 5).n1).toBe(127);
  });
});

describe('inqQuantize', () => {
  // n1 = 0, n2 = −2: levels 1, 1/2, 1/4. Intervals: [1/8, 3/8) → 1/4, [3/8, 3/4) → 1/2,
  // [3/4, 3/2) → 1, below 1/8 and from 3/2 up → 0.
  it('the per-weight rule and its edges', () => {
    const w = f32([0.12, 0.125, 0.374, 0.375, 0.74, 0.75, 1.49, 1.5, 3, -0.3, -0.8, 0, -0]);
    const q = inqQuantize(w, 0, -2);
    expect(list(q)).toEqual([0, 0.25, 0.25, 0.5, 0.5, 1, 1, 0, 0, -0.25, -1, 0, 0]);
  });

  it('agrees with the reference loop on random weights', () => {
    const r = new Rng32(5);
    const w = new Float32Array(5000).map(() => (r.uniform() - 0.5) * 6 * 2 ** Math.floor(r.uniform() * 12 - 8));
    for (const [n1, n2] of [[0, -7], [2, -5], [-3, -3], [1, -14]]) {
      const q = inqQuantize(w, n1, n2);
      for (let i = 0; i < w.length; i++) expect(q[i]).toBe(Math.fround(referenceWeight(w[i], n1, n2)));
    }
  });

  it('with a mask only frozen weights (0) are quantized', () => {
    expect(list(inqQuantize(f32([0.3, 0.3, 0.8]), 0, -2, Uint8Array.from([1, 0, 0])))).toEqual([Math.fround(0.3), 0.25, 1]);
  });

  it('argument checks', () => {
    throwsCode(() => inqQuantize(f32([1]), 0, 1), 'QNN_E_RANGE', /n2/);
    throwsCode(() => inqQuantize(f32([1]), 128, 0), 'QNN_E_RANGE', /n1/);
    throwsCode(() => inqQuantize(f32([1]), 0, -1, Uint8Array.from([1, 0])), 'QNN_E_TYPE', /mask/);
    throwsCode(() => inqQuantize(f32([1]), 0, -1, Uint8Array.from([2])), 'QNN_E_VALUE', /mask/);
  });
});

describe('inqPartition', () => {
  const w = f32([0.1, -0.9, 0.5, -0.3, 0.7]); // |w| sorted: .1 .3 .5 .7 .9

  // threshold = quantile(|w|, 1 − σ): σ = .5 → index 2 → .5; σ = .75 → index 1 → .3;
  // σ = .3 → index 2.8 → .7 − .2·.2 = .66; σ = 1 → the minimum. Frozen (0) where |w| ≥ threshold.
  it('pruning freezes the largest magnitudes', () => {
    expect(list(inqPartition(w, 0.5, 'pruning'))).toEqual([1, 0, 0, 1, 0]);
    expect(list(inqPartition(w, 0.75, 'pruning'))).toEqual([1, 0, 0, 0, 0]);
    expect(list(inqPartition(w, 0.3, 'pruning'))).toEqual([1, 0, 1, 1, 0]);
    expect(list(inqPartition(w, 1, 'pruning'))).toEqual([0, 0, 0, 0, 0]);
    // ties at the threshold are all frozen (≥), so more than σ can freeze
    expect(list(inqPartition(f32([1, 1, 1, 1]), 0.5, 'pruning'))).toEqual([0, 0, 0, 0]);
  });

  // Step 1 (σ = .5) on (.1, .9, .5, .3): threshold .4 freezes inputs 1 and 2. Input 2 then shrinks
  // to .05; step 2 (σ = .75) on (.1, .9, .05, .6): threshold .0875 would free it again (§11.18).
  it('pruning recomputes from scratch unless the previous mask is passed', () => {
    const m1 = inqPartition(f32([0.1, 0.9, 0.5, 0.3]), 0.5, 'pruning');
    expect(list(m1)).toEqual([1, 0, 0, 1]);
    const w2 = f32([0.1, 0.9, 0.05, 0.6]);
    expect(list(inqPartition(w2, 0.75, 'pruning'))).toEqual([0, 0, 1, 0]);
    expect(list(inqPartition(w2, 0.75, 'pruning', 0, { mask: m1, sigma: 0.5 }))).toEqual([0, 0, 0, 0]);
  });

  it('random freezes with probability (σ − σ_prev) / (1 − σ_prev), from a seeded stream', () => {
    const big = new Float32Array(20000).fill(0.5);
    const m1 = inqPartition(big, 0.5, 'random', 11);
    const r = new Rng32(11);
    for (let i = 0; i < 50; i++) expect(m1[i]).toBe(r.uniform() <= 0.5 ? 0 : 1);
    const frozen = (m: Uint8Array) => m.reduce((s, v) => s + (v === 0 ? 1 : 0), 0) / m.length;
    expect(Math.abs(frozen(m1) - 0.5)).toBeLessThan(0.02);
    const m2 = inqPartition(big, 0.75, 'random', 12, { mask: m1, sigma: 0.5 });
    expect(Math.abs(frozen(m2) - 0.75)).toBeLessThan(0.02);
    for (let i = 0; i < big.length; i++) if (m1[i] === 0) expect(m2[i]).toBe(0);
    expect(frozen(inqPartition(big, 1, 'random', 13, { mask: m2, sigma: 0.75 }))).toBe(1);
    expect(list(inqPartition(big, 0.5, 'random', 11))).toEqual(list(m1));
  });

  it('argument checks', () => {
    throwsCode(() => inqPartition(w, 0, 'pruning'), 'QNN_E_RANGE', /sigma/);
    throwsCode(() => inqPartition(w, 1.5, 'pruning'), 'QNN_E_RANGE', /sigma/);
    throwsCode(() => inqPartition(w, 0.5, 'largest' as 'pruning'), 'QNN_E_RANGE', /strategy/);
    throwsCode(() => inqPartition(w, 0.5, 'random', 0, { mask: new Uint8Array(5), sigma: 0.5 }), 'QNN_E_RANGE', /prev.sigma/);
    throwsCode(() => inqPartition(w, 0.5, 'random', 0, { mask: new Uint8Array(4), sigma: 0.25 }), 'QNN_E_TYPE', /prev.mask/);
    throwsCode(() => inqPartition(new Float32Array(0), 0.5, 'pruning'), 'QNN_E_EMPTY');
  });
});

describe('inqSchedule', () => {
  it('accepts accumulated portions strictly increasing in (0, 1] ending at 1', () => {
    expect(inqSchedule([0.5, 0.75, 0.875, 1])).toEqual([0.5, 0.75, 0.875, 1]);
    expect(inqSchedule([1])).toEqual([1]);
  });

  it('rejects anything else with QNN_E_RANGE', () => {
    throwsCode(() => inqSchedule([0.5, 0.5, 1]), 'QNN_E_RANGE', /increase strictly/);
    throwsCode(() => inqSchedule([0.75, 0.5, 1]), 'QNN_E_RANGE', /increase strictly/);
    throwsCode(() => inqSchedule([0.5, 0.9]), 'QNN_E_RANGE', /last INQ portion must be 1/);
    throwsCode(() => inqSchedule([0, 1]), 'QNN_E_RANGE', /\(0, 1\]/);
    throwsCode(() => inqSchedule([0.5, 1.2]), 'QNN_E_RANGE', /\(0, 1\]/);
    throwsCode(() => inqSchedule([]), 'QNN_E_RANGE', /non-empty/);
  });
});

describe('encodeInq / decodeInq', () => {
  // maxAbs 3, 5 bits: n1 = 2, n2 = −5. Values 4 (e = 2), −1 (e = 0), 0.5 (e = −1), −2^−5, 0.
  // Codes: field n1 − e + 1 and sign bit 16: 1, 16 + 3, 4, 16 + 8, 0.
  const { n1, n2 } = inqExponents(3, 5);
  const values = inqQuantize(f32([3, -1, 0.5, -0.04, 0.01, 5.9, 6]), n1, n2);

  it('round-trips every level exactly, including exponents >= 0', () => {
    expect(list(values)).toEqual([4, -1, 0.5, -(2 ** -5), 0, 4, 0]);
    const enc = encodeInq(values, n1, 5);
    expect(enc.codes).toBeInstanceOf(Uint8Array);
    expect(list(enc.codes)).toEqual([1, 19, 4, 24, 0, 1, 0]);
    expect(list(decodeInq(enc))).toEqual(list(values));
    // The reference derivative stores the signed exponent in int8 and decodes e ↦ sign(e)·2^−|e|:
    // 4 → 2 → 0.25 and −1 → −0 → 0, so exponents >= 0 do not survive it.
    const derivative = (v: number) => {
      const e = v === 0 ? 0 : Math.sign(v) * Math.log2(Math.abs(v));
      return e === 0 ? 0 : Math.sign(e) * 2 ** -Math.abs(e);
    };
    expect([4, -1].map(derivative)).toEqual([0.25, 0]);
  });

  it('every code of a 5-bit tensor decodes and re-encodes to itself', () => {
    const codes = Uint8Array.from([0, ...Array.from({ length: 8 }, (_, i) => i + 1), ...Array.from({ length: 8 }, (_, i) => 17 + i)]);
    const dec = decodeInq({ codes, n1: 0, bits: 5 });
    expect(list(encodeInq(dec, 0, 5).codes)).toEqual(list(codes));
    expect(new Set(list(dec)).size).toBe(17);
  });

  it('wide formats use Uint16Array', () => {
    const v = f32([2 ** -100, -(2 ** 3)]);
    const enc = encodeInq(v, 3, 12);
    expect(enc.codes).toBeInstanceOf(Uint16Array);
    expect(list(decodeInq(enc))).toEqual(list(v));
  });

  it('rejects values and codes outside the format', () => {
    throwsCode(() => encodeInq(f32([0.3]), 2, 5), 'QNN_E_VALUE', /not 0 or ±2\^i/);
    throwsCode(() => encodeInq(f32([8]), 2, 5), 'QNN_E_VALUE', /values\[0\]/);
    throwsCode(() => encodeInq(f32([2 ** -6]), 2, 5), 'QNN_E_VALUE', /-5 <= i <= 2/);
    throwsCode(() => decodeInq({ codes: Uint8Array.from([16]), n1: 2, bits: 5 }), 'QNN_E_VALUE', /codes\[0\]/);
    throwsCode(() => decodeInq({ codes: Uint8Array.from([9]), n1: 2, bits: 5 }), 'QNN_E_VALUE');
    throwsCode(() => decodeInq({ codes: Uint8Array.from([32]), n1: 2, bits: 5 }), 'QNN_E_VALUE');
    throwsCode(() => decodeInq({ codes: [1] as unknown as Uint8Array, n1: 2, bits: 5 }), 'QNN_E_TYPE');
  });
});

describe('inqGrid', () => {
  // step 2^−5, min −4: codes (v + 4)·32.
  it('INQ values lie on the grid of multiples of 2^n2', () => {
    const v = f32([4, -1, 0.5, 0, -(2 ** -5), -4]);
    const g = inqGrid(v, 2, -5)!;
    expect(g.step).toBe(2 ** -5);
    expect(g.min).toBe(-4);
    expect(list(g.codes)).toEqual([256, 96, 144, 128, 127, 0]);
    for (let i = 0; i < v.length; i++) expect(Math.fround(g.codes[i] * g.step + g.min)).toBe(v[i]);
  });

  it('is undefined when a value is not on the grid', () => {
    expect(inqGrid(f32([0.3]), 2, -5)).toBeUndefined();
    expect(inqGrid(f32([-8]), 2, -5)).toBeUndefined(); // below min: a negative code
  });
});
