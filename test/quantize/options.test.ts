/** Option validation per method, per-layer tables, and degenerate tensors (issue: every quantizer). */
import { loadDataset, DataSplits } from '../../src/data';
import { QnnError } from '../../src/errors';
import { quantizeNetwork } from '../../src/quantize/pipeline';
import { parseBitsPerLayer, resolveOptions } from '../../src/quantize/options';
import { getTf, Tf } from '../../src/tf/runtime';
import { mlp } from './models';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as QnnError).code;
  }
  return 'no error';
}

describe('resolveOptions', () => {
  it.each([
    ['gpfq', 17],
    ['gpfq', 0.5],
    ['bin', 0],
    ['bin', 3.5],
    ['fixed-point', 1],
    ['inq', 1],
    ['inq', 9],
  ] as const)('%s rejects %s bits', (method, bits) => {
    expect(code(() => resolveOptions({ method, bits }))).toBe('QNN_E_RANGE');
  });

  it.each([
    ['gpfq', 1.585],
    ['bin', 1],
    ['fixed-point', 2],
    ['inq', 5],
  ] as const)('%s accepts %s bits', (method, bits) => {
    expect(resolveOptions({ method, bits }).bits).toBe(bits);
  });

  it('INQ increments must increase strictly within (0, 1] and end at 1', () => {
    expect(code(() => resolveOptions({ method: 'inq', inqIncrements: [0.5, 0.75] }))).toBe('QNN_E_RANGE');
    expect(code(() => resolveOptions({ method: 'inq', inqIncrements: [0.5, 0.5, 1] }))).toBe('QNN_E_RANGE');
    expect(code(() => resolveOptions({ method: 'inq', inqIncrements: [0.75, 0.5, 1] }))).toBe('QNN_E_RANGE');
    expect(code(() => resolveOptions({ method: 'inq', inqIncrements: [] }))).toBe('QNN_E_RANGE');
    expect(resolveOptions({ method: 'inq', inqIncrements: [0.5, 1] }).inqIncrements).toEqual([0.5, 1]);
  });

  it('presets fill defaults and explicit options win', () => {
    const z = resolveOptions({ preset: 'zzs' });
    expect([z.alphabet, z.convMode, z.retainRate, z.deadInput, z.freshPerLayer]).toEqual(['zzs-linspace', 'zzs', 0.25, 'q0', true]);
    expect(resolveOptions({ preset: 'zzs', convMode: 'filter' }).convMode).toBe('filter');
    expect(code(() => resolveOptions({ quantizer: 'l0' }))).toBe('QNN_E_RANGE'); // needs lambda
  });

  it('per-layer bit tables parse from name=bits[:scalar] and JSON, and reject garbage', () => {
    expect(parseBitsPerLayer('fc1=3, out=5:2')).toEqual({ fc1: { bits: 3, scalar: undefined }, out: { bits: 5, scalar: 2 } });
    expect(parseBitsPerLayer('{"fc1": 3, "out": {"bits": 4, "scalar": 1.5}}')).toEqual({ fc1: { bits: 3 }, out: { bits: 4, scalar: 1.5 } });
    expect(code(() => parseBitsPerLayer('fc1:3'))).toBe('QNN_E_RANGE');
    expect(code(() => parseBitsPerLayer('{"fc1": "x"}'))).toBe('QNN_E_RANGE');
    expect(code(() => resolveOptions({ bitsPerLayer: { fc1: { bits: 30 } } }))).toBe('QNN_E_RANGE');
  });
});

describe('quantizeNetwork edge cases', () => {
  let tf: Tf;
  let data: DataSplits;
  beforeAll(async () => {
    tf = await getTf();
    data = await loadDataset('mnist', { preprocess: 'unit', quiet: true, maxTrain: 200, maxTest: 50 });
  });
  const o = { quiet: true, samples: 100 };

  it('a per-layer table naming an unknown layer is an error listing the quantized layers', async () => {
    await expect(quantizeNetwork(mlp(tf), data.train, resolveOptions({ ...o, bitsPerLayer: { nope: { bits: 3 } } }))).rejects.toThrow(/'nope'.*fc1, fc2, out/s);
  });

  it("the per-layer table sets each layer's levels", async () => {
    const r = await quantizeNetwork(mlp(tf), data.train, resolveOptions({ ...o, bits: 4, bitsPerLayer: { fc2: { bits: 2 } } }));
    expect(r.layers.map((l) => l.alphabet.levels)).toEqual([16, 4, 16]);
  });

  it.each(['gpfq', 'gptq', 'msq', 'bin', 'fixed-point'] as const)('%s: an all-zero and a constant kernel give defined, finite results', async (method) => {
    const m = mlp(tf);
    const [k1, b1] = m.getLayer('fc1').getWeights();
    m.getLayer('fc1').setWeights([tf.zerosLike(k1), b1]);
    const [k2, b2] = m.getLayer('fc2').getWeights();
    m.getLayer('fc2').setWeights([tf.fill(k2.shape, 0.25), b2]);
    const r = await quantizeNetwork(m, data.train, resolveOptions({ ...o, method, bits: 4 }));
    const q1 = r.quantized.getLayer('fc1').getWeights()[0].dataSync();
    const q2 = r.quantized.getLayer('fc2').getWeights()[0].dataSync();
    expect(Array.from(q1).every((v) => v === 0)).toBe(true);
    expect(Array.from(q2).every((v) => Number.isFinite(v))).toBe(true);
    if (method === 'msq' || method === 'bin' || method === 'fixed-point') {
      // Data-free methods reproduce a constant tensor up to their grid.
      expect(Math.max(...Array.from(q2).map((v) => Math.abs(v - 0.25)))).toBeLessThan(0.05);
    }
  });
});
