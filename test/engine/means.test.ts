/** Column means of X and X~ tracked by the Gram accumulator (used by bias correction). */
import { GramAccumulator, im2col } from '../../src';
import { nativeState } from '../../src/native/load';
import { makeLayer, maxAbsDiff, randomUniform } from '../helpers';

const backends = nativeState().binding ? (['native', 'js'] as const) : (['js'] as const);

function colMeans(a: Float32Array, rows: number, d: number): Float64Array {
  const m = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let c = 0; c < d; c++) m[c] += a[r * d + c] / rows;
  return m;
}

describe.each(backends)('Gram accumulator column means (%s)', (backend) => {
  it('dense: means of X and X~ over all batches; same-inputs mode gives meanXq = meanX', async () => {
    const L = makeLayer(300, 12, 2, 5);
    const acc = new GramAccumulator({ d: 12, backend });
    await acc.add(L.x.subarray(0, 100 * 12), L.xq.subarray(0, 100 * 12));
    await acc.add(L.x.subarray(100 * 12), L.xq.subarray(100 * 12));
    const m = await acc.matrices();
    expect(maxAbsDiff(m.meanX!, colMeans(L.x, 300, 12))).toBeLessThan(1e-12);
    expect(maxAbsDiff(m.meanXq!, colMeans(L.xq, 300, 12))).toBeLessThan(1e-12);
    const same = new GramAccumulator({ d: 12, same: true, backend });
    await same.add(L.x);
    const s = await same.matrices();
    expect(Array.from(s.meanXq!)).toEqual(Array.from(s.meanX!));
  });

  it.each(['filter', 'channel', 'zzs'] as const)('conv (%s): means of the patch columns of each group', async (mode) => {
    const shape = [2, 7, 6, 4];
    const x = randomUniform(2 * 7 * 6 * 4, 8, 0, 1);
    const xq = x.map((v) => v * 0.9);
    const patch = { shape, kernel: [3, 3], padding: 'same' as const, mode, groups: mode === 'filter' ? 2 : undefined, retainRate: 0.5, seed: 2 };
    const p = await im2col({ ...patch, input: x, backend: 'js' });
    const pq = await im2col({ ...patch, input: xq, backend: 'js' });
    const d = p.cols / p.groups;
    const acc = new GramAccumulator({ d, groups: p.groups, backend });
    await acc.addConv(x, xq, patch);
    const all = colMeans(p.patches, p.rows, p.cols);
    const allq = colMeans(pq.patches, pq.rows, pq.cols);
    for (let g = 0; g < p.groups; g++) {
      const m = await acc.matrices(g);
      expect(maxAbsDiff(m.meanX!, all.subarray(g * d, (g + 1) * d))).toBeLessThan(1e-9);
      expect(maxAbsDiff(m.meanXq!, allq.subarray(g * d, (g + 1) * d))).toBeLessThan(1e-9);
    }
  });
});
