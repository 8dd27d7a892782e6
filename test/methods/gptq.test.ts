/**
 * GPTQ: hand-derived answers, native (blocked) vs TypeScript (unblocked reference) parity,
 * act-order layout, dead inputs, the error report and the property that it beats MSQ.
 */
import { alphabet, GramAccumulator, GramMatrices, gptq, GptqOptions, msq, QnnError } from '../../src';
import { nativeState } from '../../src/native/load';
import { makeLayer, mismatches } from '../helpers';

const hasNative = Boolean(nativeState().binding);
const nativeIt = hasNative ? it : it.skip;
const backends: Array<'js' | 'native'> = hasNative ? ['js', 'native'] : ['js'];
if (!hasNative) {
  // eslint-disable-next-line no-console
  console.warn(`native addon not loaded (${nativeState().failures.join('; ')}): GPTQ native parity tests skipped`);
}

const TERNARY = Float32Array.from([-1, 0, 1]);

function sameGram(h: number[]): GramMatrices {
  return { d: Math.sqrt(h.length), same: true, rows: 1, h: Float64Array.from(h) };
}

/** ||X w_j − X~ q_j|| for every neuron, straight from the samples. */
function directErrors(x: Float32Array, xq: Float32Array, w: Float32Array, q: Float32Array, m: number, n0: number, n1: number): number[] {
  const e = new Array<number>(n1).fill(0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n1; j++) {
      let s = 0;
      for (let t = 0; t < n0; t++) s += x[i * n0 + t] * w[t * n1 + j] - xq[i * n0 + t] * q[t * n1 + j];
      e[j] += s * s;
    }
  }
  return e.map(Math.sqrt);
}

async function rejects(p: Promise<unknown>, code: string, text?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(QnnError);
  expect((err as QnnError).code).toBe(code);
  if (text) expect((err as QnnError).message).toMatch(text);
}

describe('gptq: hand-derived answers', () => {
  // H = [[4,2],[2,2]], no damping: H⁻¹ = [[.5,−.5],[−.5,1]], U = [[1,−1],[0,1]]/√2. q0 = Q(.4) = 0;
  // w1 ← .3 − U01·(.4 − 0)/U00 = .7, so q1 = 1. (w−q)ᵀH(w−q) = .64 − 1.12 + .98 = .5; wᵀHw = 1.3.
  it.each(backends)('%s: the error of input 0 is pushed onto input 1', async (backend) => {
    const r = await gptq({ weights: Float32Array.from([0.4, 0.3]), n0: 2, n1: 1, alphabet: TERNARY, gram: sameGram([4, 2, 2, 2]), percDamp: 0, backend });
    expect(Array.from(r.codes)).toEqual([1, 2]);
    expect(Array.from(r.q)).toEqual([0, 1]);
    expect(r.error[0]).toBeCloseTo(Math.sqrt(0.5), 7);
    expect(r.relError[0]).toBeCloseTo(Math.sqrt(0.5 / 1.3), 7);
    expect(r.backend).toBe(backend);
  });

  // The same layer with its inputs swapped: in order, q0 = Q(.3) = 0 and w1 ← .4 + (2/4)·.3 = .55,
  // so q = (0, 1) with error² .9; act-order visits input 1 (diag 4) first: q = (1, 0), error² .5.
  it.each(backends)('%s: act-order changes the visiting order, not the layout', async (backend) => {
    const base = { weights: Float32Array.from([0.3, 0.4]), n0: 2, n1: 1, alphabet: TERNARY, percDamp: 0, backend };
    const inOrder = await gptq({ ...base, gram: sameGram([2, 2, 2, 4]) });
    expect(Array.from(inOrder.q)).toEqual([0, 1]);
    expect(inOrder.error[0]).toBeCloseTo(Math.sqrt(0.9), 7);
    const act = await gptq({ ...base, gram: sameGram([2, 2, 2, 4]), actOrder: true });
    expect(Array.from(act.q)).toEqual([1, 0]);
    expect(act.error[0]).toBeCloseTo(Math.sqrt(0.5), 7);
  });

  // Dead input 0 (H00 = 0): its weight is zeroed before rounding, so q0 = Q(0) whatever w0 is, and
  // it costs nothing in the error since X~ never sees it: error² = 2·0.3².
  it.each(backends)('%s: a dead input is quantized to Q(0)', async (backend) => {
    const r = await gptq({ weights: Float32Array.from([0.9, 0.3]), n0: 2, n1: 1, alphabet: TERNARY, gram: sameGram([0, 0, 0, 2]), backend });
    expect(Array.from(r.q)).toEqual([0, 0]);
    expect(r.error[0]).toBeCloseTo(Math.sqrt(0.18), 7);
  });

  // Damping 0.01·mean(diag) = 0.03 moves the ratio H10/H11 to 2/2.03: w1 ← .3 + .4·2/2.03 ≈ .694, same codes.
  it('default damping keeps the hand answer', async () => {
    const r = await gptq({ weights: Float32Array.from([0.4, 0.3]), n0: 2, n1: 1, alphabet: TERNARY, gram: sameGram([4, 2, 2, 2]), backend: 'js' });
    expect(Array.from(r.q)).toEqual([0, 1]);
  });
});

describe('gptq: native and TypeScript agree', () => {
  const L = makeLayer(300, 48, 20, 17, { dead: [0, 11, 47] });
  const levels = alphabet({ kind: 'zzs-linspace', bits: 3, scalar: 1, weights: L.w, n0: L.n0, n1: L.n1, backend: 'js' });

  const cases: Array<Partial<GptqOptions>> = [
    { blockSize: 1 },
    { blockSize: 7 },
    { blockSize: 128 },
    { blockSize: 7, actOrder: true },
    { blockSize: 128, actOrder: true, percDamp: 0.1 },
  ];

  nativeIt.each(cases.map((c) => [JSON.stringify(c), c]))('float64, %s: identical codes and errors', async (_name, c) => {
    for (const distinct of [false, true]) {
      const base = { ...c, weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq: distinct ? L.xq : undefined, alphabet: levels, precision: 'float64' as const };
      const js = await gptq({ ...base, backend: 'js' });
      const nat = await gptq({ ...base, backend: 'native', threads: 2 });
      expect(mismatches(nat.codes, js.codes)).toBe(0);
      expect(Array.from(nat.q)).toEqual(Array.from(js.q));
      for (let j = 0; j < L.n1; j++) expect(Math.abs(nat.relError[j] - js.relError[j])).toBeLessThan(1e-9);
      for (const t of [0, 11, 47]) for (let j = 0; j < L.n1; j++) expect(js.q[t * L.n1 + j]).toBe(0);
    }
  });

  nativeIt('float32 H: ≥ 99 % of the codes of the float64 reference', async () => {
    const B = makeLayer(1500, 96, 32, 5);
    const lv = alphabet({ kind: 'lybrand', bits: 3, scalar: 2, weights: B.w, n0: B.n0, n1: B.n1 });
    const base = { weights: B.w, n0: B.n0, n1: B.n1, x: B.x, xq: B.xq, alphabet: lv };
    const js = await gptq({ ...base, backend: 'js', precision: 'float64' });
    const nat = await gptq({ ...base, backend: 'native', precision: 'float32' });
    expect(nat.precision).toBe('float32');
    expect(mismatches(nat.codes, js.codes) / js.codes.length).toBeLessThanOrEqual(0.01);
  });

  nativeIt('stochastic rounding uses the same per-neuron streams', async () => {
    const S = makeLayer(120, 24, 9, 23);
    const base = { weights: S.w, n0: S.n0, n1: S.n1, x: S.x, xq: S.xq, alphabet: levels, precision: 'float64' as const, quantizer: 'stochastic' as const, seed: 77 };
    const js = await gptq({ ...base, backend: 'js' });
    const nat = await gptq({ ...base, backend: 'native' });
    expect(mismatches(nat.codes, js.codes)).toBe(0);
  });
});

describe('gptq: properties', () => {
  it.each(backends)('%s: errors match ||Xw − X~q|| computed from the samples', async (backend) => {
    const L = makeLayer(200, 30, 10, 3, { dead: [4] });
    const levels = alphabet({ kind: 'zzs-uniform', bits: 3, scalar: 1, weights: L.w, n0: L.n0, n1: L.n1, backend: 'js' });
    const r = await gptq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq: L.xq, alphabet: levels, precision: 'float64', backend });
    const d = directErrors(L.x, L.xq, L.w, r.q, L.m, L.n0, L.n1);
    for (let j = 0; j < L.n1; j++) expect(Math.abs(r.error[j] - d[j])).toBeLessThan(1e-8 * (1 + d[j]));
  });

  it.each(backends)('%s: on correlated data the output error is below MSQ with the same alphabet', async (backend) => {
    const L = makeLayer(600, 64, 24, 9);
    const levels = alphabet({ kind: 'zzs-linspace', bits: 3, scalar: 1, weights: L.w, n0: L.n0, n1: L.n1, backend: 'js' });
    const g = await gptq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, alphabet: levels, precision: 'float64', backend });
    const m = msq({ weights: L.w, alphabet: levels, n1: L.n1, backend: 'js' });
    const ge = directErrors(L.x, L.x, L.w, g.q, L.m, L.n0, L.n1);
    const me = directErrors(L.x, L.x, L.w, m.q, L.m, L.n0, L.n1);
    const sum2 = (a: number[]) => a.reduce((s, v) => s + v * v, 0);
    expect(sum2(ge)).toBeLessThan(0.8 * sum2(me));
  });

  it('act-order returns the original layout: permuting the inputs permutes the result', async () => {
    const L = makeLayer(150, 20, 6, 31);
    const levels = alphabet({ kind: 'zzs-linspace', bits: 3, scalar: 1, weights: L.w, n0: L.n0, n1: L.n1, backend: 'js' });
    const perm = [13, 2, 19, 0, 7, 11, 5, 17, 3, 9, 1, 15, 6, 18, 4, 10, 12, 8, 16, 14];
    const pw = new Float32Array(L.w.length);
    const px = new Float32Array(L.x.length);
    for (let a = 0; a < L.n0; a++) {
      for (let j = 0; j < L.n1; j++) pw[a * L.n1 + j] = L.w[perm[a] * L.n1 + j];
      for (let i = 0; i < L.m; i++) px[i * L.n0 + a] = L.x[i * L.n0 + perm[a]];
    }
    const base = { n0: L.n0, n1: L.n1, alphabet: levels, precision: 'float64' as const, actOrder: true, backend: 'js' as const };
    const r0 = await gptq({ ...base, weights: L.w, x: L.x });
    const r1 = await gptq({ ...base, weights: pw, x: px });
    for (let a = 0; a < L.n0; a++) for (let j = 0; j < L.n1; j++) expect(r1.codes[a * L.n1 + j]).toBe(r0.codes[perm[a] * L.n1 + j]);
  });

  it.each(backends)('%s: a GramAccumulator input gives the same result as x / xq', async (backend) => {
    const L = makeLayer(100, 16, 5, 2);
    const levels = alphabet({ kind: 'zzs-linspace', bits: 3, scalar: 1, weights: L.w, n0: L.n0, n1: L.n1, backend: 'js' });
    const acc = new GramAccumulator({ d: L.n0, precision: 'float64', backend: backend === 'native' ? 'native' : 'js' });
    await acc.add(L.x.subarray(0, 40 * L.n0), L.xq.subarray(0, 40 * L.n0));
    await acc.add(L.x.subarray(40 * L.n0), L.xq.subarray(40 * L.n0));
    const a = await gptq({ weights: L.w, n0: L.n0, n1: L.n1, gram: acc, alphabet: levels, backend });
    const b = await gptq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq: L.xq, alphabet: levels, precision: 'float64', backend });
    expect(mismatches(a.codes, b.codes)).toBe(0);
    expect(a.precision).toBe('float64');
  });
});

describe('gptq: failures are QnnErrors with stable codes', () => {
  const w = Float32Array.from([0.1, 0.2]);

  it.each(backends)('%s: an indefinite H is QNN_E_VALUE suggesting a larger damping', async (backend) => {
    // eigenvalues 3 and −1: 1% damping cannot fix it
    await rejects(gptq({ weights: w, n0: 2, n1: 1, alphabet: TERNARY, gram: sameGram([1, 2, 2, 1]), backend }), 'QNN_E_VALUE', /positive definite.*percDamp/s);
  });

  it('option checks', async () => {
    const gram = sameGram([1, 0, 0, 1]);
    const base = { weights: w, n0: 2, n1: 1, alphabet: TERNARY, gram, backend: 'js' as const };
    await rejects(gptq({ ...base, percDamp: -0.1 }), 'QNN_E_RANGE', /percDamp/);
    await rejects(gptq({ ...base, blockSize: 0 }), 'QNN_E_RANGE', /blockSize/);
    await rejects(gptq({ ...base, backend: 'cuda' as unknown as 'js' }), 'QNN_E_RANGE', /backend/);
    await rejects(gptq({ ...base, gram: sameGram([1, 0, 0, 0, 1, 0, 0, 0, 1]) }), 'QNN_E_SHAPE', /n0 = 2/);
    await rejects(gptq({ ...base, x: new Float32Array(4) }), 'QNN_E_VALUE', /either/);
    await rejects(gptq({ weights: w, n0: 2, n1: 1, alphabet: TERNARY }), 'QNN_E_TYPE', /`x`/);
    await rejects(gptq({ weights: w, n0: 2, n1: 1, alphabet: TERNARY, x: new Float32Array(5) }), 'QNN_E_SHAPE', /multiple of n0/);
    await rejects(gptq({ ...base, weights: Float32Array.from([NaN, 0]) }), 'QNN_E_VALUE', /NaN/);
  });
});
