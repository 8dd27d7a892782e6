import { convLayout, GramAccumulator, im2col, quantizeConv, alphabet } from '../../src';
import type { ConvLayerSpec, ConvPatchOptions } from '../../src';
import { nativeState } from '../../src/native/load';
import { getTf } from '../../src/tf/runtime';
import { maxAbsDiff, mismatches, randomUniform } from '../helpers';

const backends = nativeState().binding ? (['native', 'js'] as const) : (['js'] as const);

describe.each(backends)('im2col (%s backend) reproduces TF convolutions', (backend) => {
  const cases: Array<{ h: number; w: number; c: number; k: [number, number]; s: number; d: number; padding: 'same' | 'valid' }> = [];
  for (const padding of ['same', 'valid'] as const) {
    for (const s of [1, 2]) cases.push({ h: 9, w: 7, c: 3, k: [3, 3], s, d: 1, padding });
    cases.push({ h: 11, w: 8, c: 2, k: [3, 2], s: 1, d: 2, padding });
    cases.push({ h: 6, w: 9, c: 4, k: [1, 1], s: 2, d: 1, padding });
    cases.push({ h: 8, w: 8, c: 2, k: [5, 5], s: 2, d: 1, padding });
  }

  it.each(cases.map((c) => [JSON.stringify(c), c]))('conv2d and depthwise %s', async (_n, c) => {
    const tf = await getTf();
    const n = 2;
    const F = 5;
    const mult = 2;
    const x = randomUniform(n * c.h * c.w * c.c, 1);
    const kernel = randomUniform(c.k[0] * c.k[1] * c.c * F, 2);
    const dkernel = randomUniform(c.k[0] * c.k[1] * c.c * mult, 3);
    const patch: ConvPatchOptions = { shape: [n, c.h, c.w, c.c], kernel: c.k, strides: c.s, dilations: c.d, padding: c.padding };
    const xt = tf.tensor4d(x, [n, c.h, c.w, c.c]);
    const want = tf.conv2d(xt, tf.tensor4d(kernel, [c.k[0], c.k[1], c.c, F]), c.s, c.padding, 'NHWC', c.d).dataSync();
    const wantD = tf.depthwiseConv2d(xt, tf.tensor4d(dkernel, [c.k[0], c.k[1], c.c, mult]), c.s, c.padding, 'NHWC', c.d).dataSync();

    const p = await im2col({ ...patch, input: x, backend });
    expect(p.rows * F).toBe(want.length);
    const got = new Float64Array(p.rows * F);
    for (let r = 0; r < p.rows; r++) for (let f = 0; f < F; f++) {
      let acc = 0;
      for (let k = 0; k < p.cols; k++) acc += p.patches[r * p.cols + k] * kernel[k * F + f];
      got[r * F + f] = acc;
    }
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);

    // Depthwise: one group per channel; group c holds channel c's kh·kw window.
    const q = await im2col({ ...patch, input: x, mode: 'channel', backend });
    const kk = c.k[0] * c.k[1];
    const gotD = new Float64Array(q.rows * c.c * mult);
    for (let r = 0; r < q.rows; r++) for (let ch = 0; ch < c.c; ch++) for (let j = 0; j < mult; j++) {
      let acc = 0;
      for (let k = 0; k < kk; k++) acc += q.patches[r * q.cols + ch * kk + k] * dkernel[(k * c.c + ch) * mult + j];
      gotD[(r * c.c + ch) * mult + j] = acc;
    }
    expect(maxAbsDiff(gotD, wantD)).toBeLessThan(1e-5);
    tf.dispose([xt]);
  });
});

(nativeState().binding ? describe : describe.skip)('native and TS patches are identical', () => {
  it('all modes, orders and groups, including seeded ZZS sampling', async () => {
    const x = randomUniform(3 * 10 * 9 * 4, 4, 0, 1);
    for (const mode of ['filter', 'channel', 'zzs'] as const) {
      for (const order of ['hwc', 'chw'] as const) {
        for (const groups of mode === 'channel' ? [undefined] : [1, 2]) {
          const o: ConvPatchOptions = { shape: [3, 10, 9, 4], kernel: [3, 3], strides: 2, padding: 'same', mode, order, groups, retainRate: 0.3, seed: 5, imageOffset: 17 };
          const a = await im2col({ ...o, input: x, backend: 'js' });
          const b = await im2col({ ...o, input: x, backend: 'native' });
          expect(Array.from(b.patches)).toEqual(Array.from(a.patches));
        }
      }
    }
  });
});

describe.each(backends)('quantizeConv (%s backend): direct and Gram forms give the same codes in float64', (backend) => {
  const N = 4;
  const H = 8;
  const W = 7;
  const cases: Array<[string, ConvLayerSpec, Partial<ConvPatchOptions>, number]> = [
    ['conv2d whole filter', { layer: 'conv2d', kernelShape: [3, 3, 4, 6] }, { strides: 1, padding: 'same' }, 4],
    ['conv2d whole filter, chw order, stride 2', { layer: 'conv2d', kernelShape: [3, 3, 4, 6], order: 'chw' }, { strides: 2, padding: 'valid', order: 'chw' }, 4],
    ['conv2d Lybrand channel-parallel', { layer: 'conv2d', kernelShape: [3, 3, 4, 6], mode: 'channel' }, { padding: 'same', mode: 'channel' }, 4],
    ['conv2d ZZS (stride = kernel, retain 0.5)', { layer: 'conv2d', kernelShape: [2, 2, 4, 6], mode: 'zzs' }, { mode: 'zzs', retainRate: 0.5, seed: 3 }, 4],
    ['grouped conv (2 groups)', { layer: 'conv2d', kernelShape: [3, 3, 2, 6], groups: 2 }, { padding: 'same', groups: 2 }, 4],
    ['depthwise (multiplier 2)', { layer: 'depthwise', kernelShape: [3, 3, 4, 2] }, { padding: 'same', mode: 'channel' }, 4],
  ];

  it.each(cases)('%s', async (_name, spec, patchExtra, C) => {
    const x = randomUniform(N * H * W * C, 10, 0, 1);
    const xq = x.map((v, i) => Math.max(0, v + 0.05 * Math.sin(i)));
    const ks = spec.kernelShape;
    const kernel = randomUniform(ks[0] * ks[1] * ks[2] * ks[3], 11, -0.5, 0.5);
    const lay = convLayout(spec);
    const patch: ConvPatchOptions = { shape: [N, H, W, C], kernel: [ks[0], ks[1]], ...patchExtra };
    const levels = alphabet({ kind: 'lybrand', bits: 3, scalar: 2, weights: kernel, n0: kernel.length / lay.outChannels, n1: lay.outChannels, backend: 'js' });
    const common = { ...spec, kernel, alphabet: levels, precision: 'float64' as const, backend };
    const direct = await quantizeConv({ ...common, inputs: { x, xq, patch } });
    const acc = new GramAccumulator({ d: lay.d, groups: lay.groups, precision: 'float64', backend });
    await acc.addConv(x.subarray(0, 2 * H * W * C), xq.subarray(0, 2 * H * W * C), { ...patch, shape: [2, H, W, C] });
    await acc.addConv(x.subarray(2 * H * W * C), xq.subarray(2 * H * W * C), { ...patch, shape: [2, H, W, C], imageOffset: 2 });
    const gram = await quantizeConv({ ...common, gram: acc });
    expect(mismatches(direct.codes, gram.codes)).toBe(0);
    expect(direct.codes.every((c) => c >= 0 && c < levels.length)).toBe(true);
    expect(maxAbsDiff(direct.relError, gram.relError)).toBeLessThan(1e-7);
    expect(direct.error.length).toBe(lay.outChannels);
    // q is in the kernel layout and every value is a level.
    const set = new Set(Array.from(levels));
    expect(Array.from(gram.q).every((v) => set.has(v))).toBe(true);
  });
});
