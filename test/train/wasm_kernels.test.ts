/**
 * The wasm training kernels against the TF.js cpu backend: Conv2DBackpropFilter (ours, missing
 * on wasm), the stride-1 Conv2DBackpropInput and Tile fast paths, registration idempotence and
 * memory hygiene.
 */
import type * as tfjs from '@tensorflow/tfjs';

import { getTf, type Tf } from '../../src/tf/runtime';
import { registerWasmTrainingKernels } from '../../src/tf/wasm_kernels';
import { Rng32 } from '../../src/util/rng';
import { maxAbsDiff } from '../helpers';
import { expectQnnError } from './helpers';

let tf: Tf;

beforeAll(async () => {
  tf = await getTf();
  expect(tf.getBackend()).toBe('wasm');
  tf.env().set('IS_TEST', true); // silences TF.js' "install tfjs-node" notice of the cpu backend
});
afterEach(async () => {
  await tf.setBackend('wasm');
});

function normal(n: number, seed: number): Float32Array {
  const r = new Rng32(seed);
  return new Float32Array(n).map(() => r.normal());
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Runs `fn` on `backend` and returns the values of its result (tensors created inside are freed). */
async function on(backend: 'wasm' | 'cpu', fn: () => tfjs.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const t = tf.tidy(fn);
  const v = (await t.data()) as Float32Array;
  t.dispose();
  return v;
}

/** max |a − b| relative to max |b| (the sums here have up to a few hundred terms). */
function relErr(a: Float32Array, b: Float32Array): number {
  const scale = Math.max(1, ...Array.from(b, Math.abs));
  return maxAbsDiff(a, b) / scale;
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  x: [number, number, number, number];
  k: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

const cases: ConvCase[] = [
  { x: [2, 7, 9, 3], k: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 7, 9, 3], k: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { x: [3, 9, 7, 2], k: [3, 3, 2, 5], strides: 2, pad: 'same' },
  { x: [3, 11, 8, 2], k: [5, 3, 2, 5], strides: 2, pad: 'valid' },
  { x: [2, 9, 7, 2], k: [3, 2, 2, 3], strides: [2, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [1, 5, 5, 1], k: [1, 1, 1, 3], strides: 1, pad: 'valid' },
  { x: [4, 6, 6, 8], k: [2, 2, 8, 1], strides: 1, pad: 'same' },
];

/** The gradients of Σ conv2d(x, w) · g with respect to w and x, on one backend. */
async function grads(backend: 'wasm' | 'cpu', c: ConvCase): Promise<{ dw: Float32Array; dx: Float32Array }> {
  const outShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tfjs.Tensor4D, tf.zeros(c.k) as tfjs.Tensor4D, c.strides, c.pad).shape);
  const make = () => ({
    x: tf.tensor4d(normal(size(c.x), 1), c.x),
    w: tf.tensor4d(normal(size(c.k), 2), c.k),
    g: tf.tensor(normal(size(outShape), 3), outShape),
  });
  const dw = await on(backend, () => {
    const { x, w, g } = make();
    return tf.grad((v: tfjs.Tensor) => tf.sum(tf.mul(tf.conv2d(x, v as tfjs.Tensor4D, c.strides, c.pad), g)))(w);
  });
  const dx = await on(backend, () => {
    const { x, w, g } = make();
    return tf.grad((v: tfjs.Tensor) => tf.sum(tf.mul(tf.conv2d(v as tfjs.Tensor4D, w, c.strides, c.pad), g)))(x);
  });
  return { dw, dx };
}

describe('Conv2D gradients on wasm match the cpu backend', () => {
  test.each(cases)('x %j, kernel %j, strides %j, pad %j', async (c) => {
    const wasm = await grads('wasm', c);
    const cpu = await grads('cpu', c);
    expect(wasm.dw.length).toBe(size(c.k));
    expect(relErr(wasm.dw, cpu.dw)).toBeLessThan(1e-5);
    expect(relErr(wasm.dx, cpu.dx)).toBeLessThan(1e-5);
  });

  test('dilation 2: equals the cpu filter gradient of the zero-inserted 5×5 kernel at even taps', async () => {
    // A 3×3 kernel with dilation 2 is the 5×5 kernel with zeros at odd taps, so its filter
    // gradient is that kernel's gradient read at taps (2i, 2j). TF.js itself never passes
    // dilations to this kernel (its Conv2D gradient rejects them), so it is called directly.
    const xs: [number, number, number, number] = [2, 9, 8, 3];
    const dys: [number, number, number, number] = [2, 9, 8, 4];
    const run = (filterShape: number[], dilations?: number) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(normal(size(xs), 4), xs), dy: tf.tensor4d(normal(size(dys), 5), dys) }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NHWC',
        filterShape,
        ...(dilations ? { dilations } : {}),
      }) as tfjs.Tensor;
    const ours = await on('wasm', () => run([3, 3, 3, 4], 2));
    const wide = await on('cpu', () => run([5, 5, 3, 4]));
    const even = new Float32Array(3 * 3 * 3 * 4);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 12; k++) even[(i * 3 + j) * 12 + k] = wide[(2 * i * 5 + 2 * j) * 12 + k];
    expect(relErr(ours, even)).toBeLessThan(1e-5);
  });

  test('every window inside the padding: a zero gradient of the right shape, like cpu', async () => {
    // 2×2 input padded by 3 on top and left (5×5), 1×1 kernel, stride 5: the single window
    // sits at padded (0, 0), so the gradient is 0.
    const run = () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.ones([1, 2, 2, 1]), dy: tf.ones([1, 1, 1, 2]) }, {
        strides: 5,
        pad: [[0, 0], [3, 0], [3, 0], [0, 0]],
        dataFormat: 'NHWC',
        filterShape: [1, 1, 1, 2],
      }) as tfjs.Tensor;
    const wasm = await on('wasm', run);
    expect(Array.from(wasm)).toEqual([0, 0]);
    expect(Array.from(wasm)).toEqual(Array.from(await on('cpu', run)));
  });

  test('NCHW is refused with a QnnError', async () => {
    await expectQnnError(
      () => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.ones([1, 1, 4, 4]), dy: tf.ones([1, 1, 2, 2]) }, {
        strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [3, 3, 1, 1],
      }),
      'QNN_E_UNSUPPORTED',
      /NHWC only/,
    );
  });
});

describe('Tile', () => {
  test.each([
    [[1, 1, 1, 5], [3, 4, 2, 1], 'float32'],
    [[2, 3], [3, 2], 'float32'],
    [[2, 1, 3], [1, 4, 2], 'int32'],
    [[4], [3], 'bool'],
    [[3, 2], [1, 1], 'float32'],
    [[2, 3], [0, 2], 'float32'],
  ] as const)('x %j reps %j (%s) equals the cpu kernel', async (shape, reps, dtype) => {
    const make = () => tf.tensor(normal(size([...shape]), 6).map((v) => (dtype === 'float32' ? v : v > 0 ? 1 : -3)), [...shape], dtype);
    const wasm = await on('wasm', () => tf.tile(make(), [...reps]));
    const cpu = await on('cpu', () => tf.tile(make(), [...reps]));
    expect(Array.from(wasm)).toEqual(Array.from(cpu));
    expect(wasm.length).toBe(size([...shape]) * size([...reps]));
  });
});

describe('registration', () => {
  test('is idempotent and the kernels leak no memory', async () => {
    const before = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile'].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc);
    registerWasmTrainingKernels(tf);
    registerWasmTrainingKernels(tf);
    const after = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile'].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc);
    expect(after).toEqual(before);
    expect(after.every((f) => typeof f === 'function')).toBe(true);

    const c = cases[2];
    const first = await grads('wasm', c);
    await tf.setBackend('wasm');
    const mem = tf.memory();
    const again = await grads('wasm', c);
    await tf.setBackend('wasm');
    expect(tf.memory().numTensors).toBe(mem.numTensors);
    expect(tf.memory().numBytes).toBe(mem.numBytes);
    expect(Array.from(again.dw)).toEqual(Array.from(first.dw));
  });
});
