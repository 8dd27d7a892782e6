/** Properties from the GPFQ papers, on both backends. */
import { alphabet, gpfq, msq } from '../../src';
import { nativeState } from '../../src/native/load';
import { makeLayer } from '../helpers';

const backends = nativeState().binding ? (['native', 'js'] as const) : (['js'] as const);

function outputError2(L: { m: number; n0: number; n1: number; w: Float32Array; x: Float32Array }, xq: Float32Array, q: Float32Array): number {
  let s = 0;
  for (let i = 0; i < L.m; i++) {
    for (let j = 0; j < L.n1; j++) {
      let e = 0;
      for (let t = 0; t < L.n0; t++) e += L.x[i * L.n0 + t] * L.w[t * L.n1 + j] - xq[i * L.n0 + t] * q[t * L.n1 + j];
      s += e * e;
    }
  }
  return s;
}

describe.each(backends)('GPFQ properties (%s backend)', (backend) => {
  const L = makeLayer(800, 64, 24, 31);

  it('every code indexes the alphabet and q is exactly the level it names', async () => {
    for (const kind of ['lybrand', 'zzs-linspace', 'zzs-uniform'] as const) {
      const levels = alphabet({ kind, bits: 3, scalar: 2, weights: L.w, n0: L.n0, n1: L.n1, backend });
      const r = await gpfq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq: L.xq, alphabet: levels, backend });
      for (let i = 0; i < r.codes.length; i++) {
        expect(r.codes[i]).toBeGreaterThanOrEqual(0);
        expect(r.codes[i]).toBeLessThan(levels.length);
        expect(r.q[i]).toBe(levels[r.codes[i]]);
      }
    }
  });

  it('on correlated data GPFQ output error is well below MSQ with the same alphabet (both settings)', async () => {
    const levels = alphabet({ kind: 'lybrand', bits: Math.log2(3), scalar: 3, weights: L.w, n0: L.n0, n1: L.n1, backend });
    for (const xq of [L.x, L.xq]) {
      const g = await gpfq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq, alphabet: levels, backend, precision: 'float64' });
      const m = msq({ weights: L.w, alphabet: levels, backend });
      const eg = outputError2(L, xq, g.q);
      const em = outputError2(L, xq, m.q);
      expect(eg).toBeLessThan(0.7 * em);
      // The reported per-neuron errors add up to the same total.
      const reported = Array.from(g.error).reduce((a, e) => a + e * e, 0);
      expect(Math.abs(reported - eg) / eg).toBeLessThan(1e-6);
    }
  });

  it('first layer: omitting xq is X~ = X (same codes as passing xq = x)', async () => {
    const levels = alphabet({ kind: 'zzs-uniform', bits: 4, scalar: 1, weights: L.w, n0: L.n0, n1: L.n1, backend });
    for (const algorithm of ['direct', 'gram'] as const) {
      const a = await gpfq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, alphabet: levels, backend, algorithm, precision: 'float64' });
      const b = await gpfq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq: L.x, alphabet: levels, backend, algorithm, precision: 'float64' });
      expect(Array.from(a.codes)).toEqual(Array.from(b.codes));
    }
  });

  it('more levels never hurt much: the 16-level error is below the ternary error', async () => {
    const errs: number[] = [];
    for (const bits of [Math.log2(3), 4]) {
      const levels = alphabet({ kind: 'lybrand', bits, scalar: 3, weights: L.w, n0: L.n0, n1: L.n1, backend });
      const r = await gpfq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq: L.xq, alphabet: levels, backend });
      errs.push(Array.from(r.relError).reduce((a, b) => a + b, 0));
    }
    expect(errs[1]).toBeLessThan(errs[0]);
  });
});
