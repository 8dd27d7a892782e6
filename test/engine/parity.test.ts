/**
 * Native vs TypeScript, and direct vs Gram form: integer codes must be identical in float64;
 * in float32 ≥ 99.9 % identical with per-layer relative error within 1e-5.
 */
import { alphabet, alphabetGrid, gpfq, GpfqOptions, GramAccumulator, l0Alphabet, msq } from '../../src';
import { nativeState } from '../../src/native/load';
import { makeLayer, mismatches } from '../helpers';

const hasNative = Boolean(nativeState().binding);
const nativeIt = hasNative ? it : it.skip;

if (!hasNative) {
  // Visible in the run: the parity half of this suite needs the addon.
  // eslint-disable-next-line no-console
  console.warn(`native addon not loaded (${nativeState().failures.join('; ')}): native parity tests skipped`);
}

function meanRel(r: { relError: Float64Array }): number {
  return r.relError.reduce((a, b) => a + b, 0) / r.relError.length;
}

describe('GPFQ forms and backends agree', () => {
  const L = makeLayer(240, 48, 20, 7, { dead: [0, 17, 47] });
  const levels = alphabet({ kind: 'zzs-linspace', bits: 4, scalar: 1.2, weights: L.w, n0: L.n0, n1: L.n1, backend: 'js' });

  const variants: Array<Partial<GpfqOptions>> = [
    {},
    { shortcut: true },
    { deadInput: 'zero' },
    { shortcut: true, deadInput: 'zero', block: 5 },
  ];

  it.each(variants.map((v) => [JSON.stringify(v), v]))('float64, options %s: every form and backend gives the same codes', async (_name, v) => {
    for (const distinct of [false, true]) {
      const base = { ...v, weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq: distinct ? L.xq : undefined, alphabet: levels, precision: 'float64' as const };
      const ref = await gpfq({ ...base, backend: 'js', algorithm: 'direct' });
      const runs = [await gpfq({ ...base, backend: 'js', algorithm: 'gram' })];
      if (hasNative) {
        runs.push(await gpfq({ ...base, backend: 'native', algorithm: 'direct' }));
        runs.push(await gpfq({ ...base, backend: 'native', algorithm: 'gram' }));
      }
      for (const r of runs) {
        expect(mismatches(r.codes, ref.codes)).toBe(0);
        for (let j = 0; j < L.n1; j++) expect(Math.abs(r.relError[j] - ref.relError[j])).toBeLessThan(1e-7);
      }
      if (v.deadInput === 'zero') expect(ref.codes[17 * L.n1]).toBe(-1);
    }
  });

  nativeIt('float32: native and TS agree on ≥ 99.9 % of codes and the layer relative error within 1e-5', async () => {
    const B = makeLayer(3000, 96, 64, 3);
    const lv = alphabet({ kind: 'lybrand', bits: 4, scalar: 3, weights: B.w, n0: B.n0, n1: B.n1 });
    for (const algorithm of ['direct', 'gram'] as const) {
      const base = { weights: B.w, n0: B.n0, n1: B.n1, x: B.x, xq: B.xq, alphabet: lv, precision: 'float32' as const, algorithm };
      const js = await gpfq({ ...base, backend: 'js' });
      const nat = await gpfq({ ...base, backend: 'native' });
      expect(mismatches(js.codes, nat.codes) / js.codes.length).toBeLessThanOrEqual(0.001);
      expect(Math.abs(meanRel(js) - meanRel(nat))).toBeLessThan(1e-5);
    }
  });

  nativeIt('stochastic, L1 and L0 quantizers: identical codes in float64', async () => {
    const S = makeLayer(150, 30, 9, 11, { dead: [4] });
    const lv = alphabet({ kind: 'zzs-uniform', bits: 3, scalar: 1, weights: S.w, n0: S.n0, n1: S.n1 });
    const l0 = l0Alphabet({ delta: 0.05, lambda: 0.02, kMax: 4 });
    const cases: Array<Partial<GpfqOptions>> = [
      { quantizer: 'stochastic', seed: 9 },
      { quantizer: 'l1', lambda: 0.03 },
      { quantizer: 'l0', lambda: 0.02, l0: { delta: 0.05, kMax: 4 }, alphabet: l0 },
    ];
    for (const c of cases) {
      const base = { weights: S.w, n0: S.n0, n1: S.n1, x: S.x, xq: S.xq, alphabet: lv, precision: 'float64' as const, ...c };
      const ref = await gpfq({ ...base, backend: 'js' });
      expect(mismatches((await gpfq({ ...base, backend: 'native' })).codes, ref.codes)).toBe(0);
      expect(mismatches((await gpfq({ ...base, backend: 'native', algorithm: 'gram' })).codes, ref.codes)).toBe(0);
      const m1 = msq({ weights: S.w, alphabet: base.alphabet, n1: S.n1, ...c, backend: 'js' });
      const m2 = msq({ weights: S.w, alphabet: base.alphabet, n1: S.n1, ...c, backend: 'native' });
      expect(mismatches(m1.codes, m2.codes)).toBe(0);
    }
  });

  nativeIt('alphabets are bit-identical between backends', () => {
    const A = makeLayer(10, 64, 33, 5);
    for (const kind of ['lybrand', 'zzs-linspace', 'zzs-uniform'] as const) {
      for (const bits of [1, Math.log2(3), 2, 3, 4.5, 8]) {
        for (const percentile of [1, 0.9]) {
          const o = { kind, bits, scalar: 1.16, percentile, weights: A.w, n0: A.n0, n1: A.n1 };
          const a = alphabetGrid({ ...o, backend: 'js' });
          const b = alphabetGrid({ ...o, backend: 'native' });
          expect(Array.from(b.levels)).toEqual(Array.from(a.levels));
          expect(Array.from(b.codes)).toEqual(Array.from(a.codes));
          expect(b.step).toBe(a.step);
          expect(b.min).toBe(a.min);
        }
      }
    }
  });

  nativeIt('streaming Gram accumulation in batches equals one batch, and native equals TS', async () => {
    const G = makeLayer(500, 40, 4, 21);
    const mats = [];
    for (const backend of ['js', 'native'] as const) {
      for (const batches of [1, 7]) {
        const acc = new GramAccumulator({ d: G.n0, precision: 'float64', backend });
        const rows = Math.ceil(G.m / batches);
        for (let r0 = 0; r0 < G.m; r0 += rows) {
          const r1 = Math.min(G.m, r0 + rows);
          await acc.add(G.x.subarray(r0 * G.n0, r1 * G.n0), G.xq.subarray(r0 * G.n0, r1 * G.n0));
        }
        expect(acc.rows).toBe(G.m);
        mats.push(await acc.matrices());
      }
    }
    for (const m of mats.slice(1)) {
      for (const key of ['g', 'h', 'k'] as const) {
        const a = mats[0][key]!;
        const b = m[key]!;
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(a[i])));
        expect(worst).toBeLessThan(1e-12);
      }
    }
  });
});
