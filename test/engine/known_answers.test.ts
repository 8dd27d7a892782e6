import { alphabet, alphabetGrid, gpfq, msq } from '../../src';
import { nativeState } from '../../src/native/load';

const backends = nativeState().binding ? (['native', 'js'] as const) : (['js'] as const);

describe.each(backends)('known answers (%s backend)', (backend) => {
  // X has columns X_0 = (1, 0) and X_1 = (1, 1) (rows are samples), w = (0.6, 0.6), A = {-1, 0, 1}.
  // t = 0: u = 0 -> s = w_0 = 0.6 -> q_0 = 1; u = 0.6 X_0 - X_0 = (-0.4, 0).
  // t = 1: s = (<X_1, u> + ||X_1||² w_1) / ||X_1||² = (-0.4 + 1.2) / 2 = 0.4 -> q_1 = 0.
  // Error ||Xw - Xq|| = ||(0.2, 0.6)|| = sqrt(0.4); MSQ rounds both to 1: ||(-0.8, -0.4)|| = sqrt(0.8).
  const x = Float32Array.from([1, 1, 0, 1]);
  const w = Float32Array.from([0.6, 0.6]);
  const levels = Float32Array.from([-1, 0, 1]);

  it.each(['direct', 'gram'] as const)('GPFQ by hand, %s form', async (algorithm) => {
    for (const precision of ['float32', 'float64'] as const) {
      const r = await gpfq({ weights: w, n0: 2, n1: 1, x, alphabet: levels, algorithm, precision, backend });
      expect(Array.from(r.codes)).toEqual([2, 1]);
      expect(Array.from(r.q)).toEqual([1, 0]);
      expect(r.error[0]).toBeCloseTo(Math.sqrt(0.4), 6);
      // ||Xw|| = ||(1.2, 0.6)|| = sqrt(1.8)
      expect(r.relError[0]).toBeCloseTo(Math.sqrt(0.4 / 1.8), 6);
      expect(r.backend).toBe(backend);
    }
  });

  it('MSQ by hand, and GPFQ beats it here', () => {
    const r = msq({ weights: w, alphabet: levels, backend });
    expect(Array.from(r.codes)).toEqual([2, 2]);
  });

  it('nearest-level ties go to the lower level by default and to the upper one with tie "upper"', () => {
    const t = Float32Array.from([0.5, -0.5, 1.5, 7, -7]);
    expect(Array.from(msq({ weights: t, alphabet: levels, backend }).codes)).toEqual([1, 0, 2, 2, 0]);
    expect(Array.from(msq({ weights: t, alphabet: levels, backend, tie: 'upper' }).codes)).toEqual([2, 1, 2, 2, 0]);
  });

  it('Lybrand alphabets: ternary C·median|W|·{-1,0,1} and 4 levels C·median|W|·{-1,-1/3,1/3,1}', () => {
    const wt = Float32Array.from([0.5, -1, 0.25, 2]); // median |w| = 0.75
    expect(Array.from(alphabet({ kind: 'lybrand', bits: Math.log2(3), scalar: 2, weights: wt, n0: 2, n1: 2, backend }))).toEqual([-1.5, 0, 1.5]);
    expect(Array.from(alphabet({ kind: 'lybrand', bits: 2, scalar: 2, weights: wt, n0: 2, n1: 2, backend }))).toEqual([-1.5, -0.5, 0.5, 1.5]);
  });

  it('ZZS alphabets: radius = C · mean over neurons of the p-quantile of |w|', () => {
    const wt = Float32Array.from([0.5, -1, 0.25, 2]); // neurons (columns): {0.5, 0.25}, {-1, 2}
    // p = 1: R = (0.5 + 2) / 2 = 1.25; uniform, 2 bits: K = 2, step = C R / K = 1.25
    expect(Array.from(alphabet({ kind: 'zzs-uniform', bits: 2, scalar: 2, weights: wt, n0: 2, n1: 2, backend }))).toEqual([-2.5, -1.25, 0, 1.25, 2.5]);
    // linspace(-1, 1, 4) ∪ {0}, p = 0.5: R = (0.375 + 1.5) / 2 = 0.9375, C R = 0.9375
    const g = alphabetGrid({ kind: 'zzs-linspace', bits: 2, scalar: 1, percentile: 0.5, weights: wt, n0: 2, n1: 2, backend });
    expect(Array.from(g.levels)).toEqual([-0.9375, -0.3125, 0, 0.3125, 0.9375]);
    expect(Array.from(g.codes)).toEqual([0, 2, 3, 4, 6]);
    expect(g.step).toBeCloseTo(0.3125, 12);
  });
});
