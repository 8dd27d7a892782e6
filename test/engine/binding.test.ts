/**
 * The native layer validates types, lengths and shapes itself (for tools that import the binding
 * directly) and never crashes the process: errors carry `.code`, async work rejects.
 */
import { nativeState } from '../../src/native/load';
import type { NativeBinding } from '../../src/native/types';

const b = nativeState().binding as NativeBinding & Record<string, (o: unknown) => unknown>;
const d = b ? describe : describe.skip;

async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    return (e as { code?: string }).code ?? `no code: ${(e as Error).message}`;
  }
  return 'no error';
}

d('native binding contracts', () => {
  const w = new Float32Array(6).fill(0.1);
  const x = new Float32Array(12).fill(1);
  const levels = Float32Array.from([-1, 0, 1]);
  const ok = { weights: w, n0: 3, n1: 2, x, m: 4, levels };

  it.each([
    ['missing weights', { weights: undefined }, 'QNN_E_TYPE'],
    ['Int32Array weights', { weights: new Int32Array(6) }, 'QNN_E_TYPE'],
    ['short x', { x: new Float32Array(11) }, 'QNN_E_SHAPE'],
    ['m = 0', { m: 0 }, 'QNN_E_RANGE'],
    ['n0 not an integer', { n0: 2.5 }, 'QNN_E_RANGE'],
    ['n1 a string', { n1: '2' }, 'QNN_E_TYPE'],
    ['NaN in x (checked before work)', { x: Float32Array.from({ length: 12 }, (_, i) => (i === 5 ? NaN : 1)) }, 'QNN_E_VALUE'],
    ['unsorted levels', { levels: Float32Array.from([1, -1]) }, 'QNN_E_VALUE'],
    ['empty levels', { levels: new Float32Array(0) }, 'QNN_E_EMPTY'],
    ['bad precision', { precision: 'float16' }, 'QNN_E_RANGE'],
    ['bad backend', { backend: 'tpu' }, 'QNN_E_RANGE'],
    ['bad quantizer kind', { quant: { kind: 9 } }, 'QNN_E_RANGE'],
    ['L0 without delta', { quant: { kind: 3, kMax: 2 } }, 'QNN_E_RANGE'],
  ])('gpfqDirect: %s → %s', async (_n, patch, code) => {
    expect(await codeOf(() => b.gpfqDirect({ ...ok, ...(patch as object) } as never))).toBe(code);
  });

  it('gpfqGram, gramAccumulate, im2col and alphabet validate their arguments', async () => {
    expect(await codeOf(() => b.gpfqGram({ weights: w, n0: 3, n1: 2, h: new Float32Array(8), levels } as never))).toBe('QNN_E_SHAPE');
    expect(await codeOf(() => b.gpfqGram({ weights: w, n0: 3, n1: 2, h: new Float64Array(9), g: new Float32Array(9), levels } as never))).toBe('QNN_E_TYPE');
    expect(await codeOf(() => b.gpfqGram({ weights: w, n0: 3, n1: 2, h: new Float64Array(9), levels } as never))).toBe('QNN_E_TYPE'); // g required unless same
    expect(await codeOf(() => b.gramAccumulate({ h: new Float32Array(9), d: 3, rows: 4, x: new Float32Array(12), xq: new Float32Array(12) } as never))).toBe('QNN_E_TYPE'); // xq needs g
    expect(await codeOf(() => b.im2col({ x: new Float32Array(16), spec: { n: 1, h: 4, w: 4, c: 1, kh: 3, kw: 3, padding: 'full' } } as never))).toBe('QNN_E_RANGE');
    expect(await codeOf(() => b.im2col({ x: new Float32Array(16), spec: { n: 1, h: 4, w: 4, c: 1, kh: 3, kw: 3, groups: 2 } } as never))).toBe('QNN_E_SHAPE');
    expect(await codeOf(() => b.alphabet({ kind: 0, bits: 20, weights: w, n0: 3, n1: 2 } as never))).toBe('QNN_E_RANGE');
    expect(await codeOf(() => b.alphabet({ kind: 7, bits: 2, weights: w, n0: 3, n1: 2 } as never))).toBe('QNN_E_RANGE');
    expect(await codeOf(() => b.gpfqDirect(42 as never))).toBe('QNN_E_TYPE');
    expect(await codeOf(() => b.cudaGramAdd({ handle: {}, x } as never))).toBe('QNN_E_TYPE');
  });

  it('many concurrent calls with short-lived inputs all resolve correctly (inputs stay pinned)', async () => {
    const jobs: Array<Promise<{ codes: Int32Array }>> = [];
    for (let i = 0; i < 32; i++) {
      jobs.push(b.gpfqDirect({ weights: Float32Array.from([0.6, 0.6]), n0: 2, n1: 1, x: Float32Array.from([1, 1, 0, 1]), m: 2, levels: Float32Array.from([-1, 0, 1]) }));
    }
    if (global.gc) global.gc();
    for (const r of await Promise.all(jobs)) expect(Array.from(r.codes)).toEqual([2, 1]);
  });
});
