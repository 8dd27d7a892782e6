/**
 * CUDA backend parity with the native CPU backend, on the same seeded cases as the CPU parity
 * suite. Runs only where a device is usable; elsewhere it says so and checks that CUDA is reported
 * unavailable with a reason and that requests for it fail cleanly.
 */
import { alphabet, backends, gpfq, GramAccumulator, hasCuda, im2col, QnnError, quantizeConv, convLayout } from '../../src';
import { nativeState } from '../../src/native/load';
import { makeLayer, maxAbsDiff, mismatches, randomUniform } from '../helpers';

const cuda = backends().find((b) => b.name === 'cuda')!;
const available = hasCuda();

if (!available) {
  // eslint-disable-next-line no-console
  console.warn(`[SKIP-CUDA] CUDA parity tests not run: ${cuda.reason || 'no usable device'}`);
}

describe('CUDA availability is reported honestly', () => {
  it('backends() describes CUDA with a reason when unavailable', () => {
    expect(cuda.available).toBe(available);
    if (!available) expect(cuda.reason.length).toBeGreaterThan(10);
    if (nativeState().binding) expect(cuda.compiled).toBe(nativeState().binding!.buildInfo().cudaCompiled);
  });

  (available ? it.skip : it)('without a device, backend "cuda" is a clean QNN_E_CUDA_UNAVAILABLE everywhere', async () => {
    const L = makeLayer(20, 6, 3, 1);
    const calls: Array<() => unknown> = [
      () => gpfq({ weights: L.w, n0: L.n0, n1: L.n1, x: L.x, alphabet: Float32Array.from([-1, 0, 1]), backend: 'cuda' }),
      () => new GramAccumulator({ d: 4, backend: 'cuda' }),
      () => im2col({ input: new Float32Array(16), shape: [1, 4, 4, 1], kernel: [3, 3], backend: 'cuda' }),
    ];
    for (const c of calls) {
      let err: unknown;
      try {
        await c();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QnnError);
      expect(['QNN_E_CUDA_UNAVAILABLE', 'QNN_E_NATIVE_UNAVAILABLE']).toContain((err as QnnError).code);
    }
  });
});

(available ? describe : describe.skip)('CUDA vs native CPU', () => {
  it('float64: identical codes, direct and Gram forms, with dead columns and X~ != X', async () => {
    const L = makeLayer(240, 48, 20, 7, { dead: [0, 17, 47] });
    const levels = alphabet({ kind: 'zzs-linspace', bits: 4, scalar: 1.2, weights: L.w, n0: L.n0, n1: L.n1 });
    for (const opts of [{}, { shortcut: true, deadInput: 'zero' as const }, { quantizer: 'stochastic' as const, seed: 3 }]) {
      for (const algorithm of ['direct', 'gram'] as const) {
        const base = { weights: L.w, n0: L.n0, n1: L.n1, x: L.x, xq: L.xq, alphabet: levels, precision: 'float64' as const, algorithm, ...opts };
        const cpu = await gpfq({ ...base, backend: 'native' });
        const gpu = await gpfq({ ...base, backend: 'cuda' });
        expect(gpu.backend).toBe('cuda');
        expect(mismatches(gpu.codes, cpu.codes)).toBe(0);
        expect(maxAbsDiff(gpu.relError, cpu.relError)).toBeLessThan(1e-7);
      }
    }
  });

  it('float32: ≥ 99.9 % identical codes and matching relative errors', async () => {
    const B = makeLayer(3000, 96, 64, 3);
    const lv = alphabet({ kind: 'lybrand', bits: 4, scalar: 3, weights: B.w, n0: B.n0, n1: B.n1 });
    for (const algorithm of ['direct', 'gram'] as const) {
      const base = { weights: B.w, n0: B.n0, n1: B.n1, x: B.x, xq: B.xq, alphabet: lv, precision: 'float32' as const, algorithm };
      const cpu = await gpfq({ ...base, backend: 'native' });
      const gpu = await gpfq({ ...base, backend: 'cuda' });
      expect(mismatches(cpu.codes, gpu.codes) / cpu.codes.length).toBeLessThanOrEqual(0.001);
      const mean = (r: { relError: Float64Array }) => r.relError.reduce((a, b) => a + b, 0) / r.relError.length;
      expect(Math.abs(mean(cpu) - mean(gpu))).toBeLessThan(1e-5);
    }
  });

  it('im2col and conv Gram accumulation equal the CPU (all modes)', async () => {
    const x = randomUniform(3 * 10 * 9 * 4, 4, 0, 1);
    const xq = x.map((v, i) => Math.max(0, v + 0.05 * Math.cos(i)));
    for (const mode of ['filter', 'channel', 'zzs'] as const) {
      const o = { shape: [3, 10, 9, 4], kernel: [3, 3], strides: 2, padding: 'same' as const, mode, retainRate: 0.3, seed: 5 };
      const a = await im2col({ ...o, input: x, backend: 'native' });
      const b = await im2col({ ...o, input: x, backend: 'cuda' });
      expect(Array.from(b.patches)).toEqual(Array.from(a.patches));
      const lay = convLayout({ layer: 'conv2d', kernelShape: [3, 3, 4, 5], mode });
      const mats = [];
      for (const backend of ['native', 'cuda'] as const) {
        const acc = new GramAccumulator({ d: lay.d, groups: lay.groups, precision: 'float64', backend });
        await acc.addConv(x, xq, o);
        mats.push(await acc.matrices(lay.groups - 1));
        acc.dispose();
      }
      expect(maxAbsDiff(mats[0].g!, mats[1].g!)).toBeLessThan(1e-9);
      expect(maxAbsDiff(mats[0].h, mats[1].h)).toBeLessThan(1e-9);
    }
  });

  it('quantizeConv on a device-resident accumulator gives the CPU codes in float64', async () => {
    const x = randomUniform(4 * 8 * 7 * 4, 10, 0, 1);
    const kernel = randomUniform(3 * 3 * 4 * 6, 11, -0.5, 0.5);
    const levels = alphabet({ kind: 'lybrand', bits: 3, scalar: 2, weights: kernel, n0: 36, n1: 6 });
    const codes = [];
    for (const backend of ['native', 'cuda'] as const) {
      const acc = new GramAccumulator({ d: 36, precision: 'float64', same: true, backend });
      await acc.addConv(x, undefined, { shape: [4, 8, 7, 4], kernel: [3, 3], padding: 'same' });
      codes.push((await quantizeConv({ kernel, kernelShape: [3, 3, 4, 6], alphabet: levels, gram: acc, backend })).codes);
      acc.dispose();
    }
    expect(mismatches(codes[0], codes[1])).toBe(0);
  });
});
