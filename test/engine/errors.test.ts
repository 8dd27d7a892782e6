/**
 * Bad input gives a QnnError with a stable code from every backend, before any work; the process
 * never crashes. (The native layer validates too: see test/engine/binding.test.ts.)
 */
import { alphabet, gpfq, GramAccumulator, im2col, msq, QnnError, quantizeConv } from '../../src';
import { nativeState } from '../../src/native/load';

const backends = nativeState().binding ? (['native', 'js'] as const) : (['js'] as const);

async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(QnnError);
    return (e as QnnError).code;
  }
  return 'no error';
}

function detached(n: number): Float32Array {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

describe.each(backends)('input validation (%s backend)', (backend) => {
  const n0 = 6;
  const n1 = 3;
  const m = 10;
  const w = new Float32Array(n0 * n1).fill(0.1);
  const x = new Float32Array(m * n0).fill(1);
  const levels = Float32Array.from([-1, 0, 1]);
  const ok = { weights: w, n0, n1, x, alphabet: levels, backend };

  it.each([
    ['weights as a plain array', { weights: Array.from(w) }, 'QNN_E_TYPE'],
    ['weights as Float64Array', { weights: new Float64Array(n0 * n1) }, 'QNN_E_TYPE'],
    ['weights of the wrong length', { n1: 4 }, 'QNN_E_SHAPE'],
    ['x not a multiple of n0', { x: new Float32Array(13) }, 'QNN_E_SHAPE'],
    ['xq of the wrong length', { xq: new Float32Array(5) }, 'QNN_E_SHAPE'],
    ['empty x', { x: new Float32Array(0) }, 'QNN_E_SHAPE'],
    ['NaN in x', { x: x.map((v, i) => (i === 7 ? NaN : v)) }, 'QNN_E_VALUE'],
    ['Infinity in weights', { weights: w.map((v, i) => (i === 2 ? Infinity : v)) }, 'QNN_E_VALUE'],
    ['unsorted alphabet', { alphabet: Float32Array.from([1, 0, -1]) }, 'QNN_E_VALUE'],
    ['empty alphabet', { alphabet: new Float32Array(0) }, 'QNN_E_EMPTY'],
    ['detached x', { x: detached(m * n0) }, 'QNN_E_DETACHED'],
    ['n0 = 0', { n0: 0 }, 'QNN_E_RANGE'],
    ['fractional n1', { n1: 1.5 }, 'QNN_E_TYPE'],
    ['unknown algorithm', { algorithm: 'fast' }, 'QNN_E_RANGE'],
    ['unknown precision', { precision: 'half' }, 'QNN_E_RANGE'],
    ['unknown dead-input rule', { deadInput: 'nan' }, 'QNN_E_RANGE'],
    ['neither x nor gram', { x: undefined }, 'QNN_E_TYPE'],
  ])('gpfq: %s → %s', async (_name, patch, code) => {
    expect(await codeOf(() => gpfq({ ...ok, ...(patch as object) } as never))).toBe(code);
  });

  it('gpfq: options that are not an object', async () => {
    expect(await codeOf(() => gpfq(null as never))).toBe('QNN_E_TYPE');
    expect(await codeOf(() => gpfq(new Float32Array(3) as never))).toBe('QNN_E_TYPE');
  });

  it.each([
    ['bits above 16', { bits: 17 }, 'QNN_E_RANGE'],
    ['bits below 1', { bits: 0.5 }, 'QNN_E_RANGE'],
    ['bits NaN', { bits: NaN }, 'QNN_E_RANGE'],
    ['negative scalar', { scalar: -1 }, 'QNN_E_RANGE'],
    ['percentile 0', { percentile: 0 }, 'QNN_E_RANGE'],
    ['unknown kind', { kind: 'uniform' }, 'QNN_E_RANGE'],
    ['NaN weight', { weights: Float32Array.from([0.1, NaN, 0.2, 0.3]) }, 'QNN_E_VALUE'],
  ])('alphabet: %s → %s', async (_name, patch, code) => {
    const base = { kind: 'lybrand', bits: 2, scalar: 1, weights: Float32Array.from([0.1, 0.2, 0.3, 0.4]), n0: 2, n1: 2, backend };
    expect(await codeOf(() => alphabet({ ...base, ...(patch as object) } as never))).toBe(code);
  });

  it('msq, GramAccumulator, im2col and quantizeConv reject bad input', async () => {
    expect(await codeOf(() => msq({ weights: w, alphabet: Float32Array.from([2, 1]), backend }))).toBe('QNN_E_VALUE');
    expect(await codeOf(() => msq({ weights: w, alphabet: levels, n1: 4, backend }))).toBe('QNN_E_SHAPE');
    expect(await codeOf(() => new GramAccumulator({ d: 0, backend }))).toBe('QNN_E_RANGE');
    const acc = new GramAccumulator({ d: n0, backend });
    expect(await codeOf(() => acc.add(new Float32Array(7), new Float32Array(7)))).toBe('QNN_E_SHAPE');
    expect(await codeOf(() => acc.add(x))).toBe('QNN_E_VALUE'); // distinct accumulator needs xq
    expect(await codeOf(() => acc.matrices())).toBe('QNN_E_EMPTY');
    const same = new GramAccumulator({ d: n0, same: true, backend });
    expect(await codeOf(() => same.add(x, x))).toBe('QNN_E_VALUE');
    expect(await codeOf(() => im2col({ input: new Float32Array(10), shape: [1, 4, 4, 1], kernel: [3, 3], backend }))).toBe('QNN_E_SHAPE');
    expect(await codeOf(() => im2col({ input: new Float32Array(16), shape: [1, 4, 4, 1], kernel: [5, 5], padding: 'valid', backend }))).toBe('QNN_E_SHAPE');
    expect(await codeOf(() => im2col({ input: new Float32Array(32), shape: [1, 4, 4, 2], kernel: [3, 3], groups: 3, backend }))).toBe('QNN_E_SHAPE');
    expect(await codeOf(() => quantizeConv({ kernel: new Float32Array(10), kernelShape: [3, 3, 1, 2], alphabet: levels, gram: acc, backend }))).toBe('QNN_E_SHAPE');
  });

  it('a failed batch leaves the accumulator usable', async () => {
    const acc = new GramAccumulator({ d: 2, same: true, backend });
    await expect(acc.add(Float32Array.from([1, NaN]))).rejects.toThrow(/NaN/);
    await acc.add(Float32Array.from([1, 2]));
    expect(acc.rows).toBe(1);
    const mats = await acc.matrices();
    expect(Array.from(mats.h)).toEqual([1, 2, 2, 4]);
  });
});

describe('backend selection', () => {
  it("backend 'cuda' without a usable device is a clear QNN_E_CUDA_UNAVAILABLE (or works when one exists)", async () => {
    const b = nativeState().binding;
    const cuda = b?.backends().find((e) => e.name === 'cuda');
    const run = () => gpfq({ weights: new Float32Array(4).fill(0.1), n0: 2, n1: 2, x: new Float32Array(8).fill(1), alphabet: Float32Array.from([-1, 1]), backend: 'cuda' });
    if (cuda?.available) {
      expect((await run()).backend).toBe('cuda');
    } else {
      expect(await codeOf(run)).toBe(b ? 'QNN_E_CUDA_UNAVAILABLE' : 'QNN_E_NATIVE_UNAVAILABLE');
    }
  });

  it('an unknown backend name is rejected', async () => {
    expect(await codeOf(() => msq({ weights: new Float32Array(2), alphabet: Float32Array.from([0]), backend: 'gpu' as never }))).toBe('QNN_E_RANGE');
  });
});
