import * as fs from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';

import type * as tfjs from '@tensorflow/tfjs';

import { exportQuantizedTfjs, roundTripCheck, type QuantizedTensor } from '../../src/io/export';
import { fileIO, loadModel } from '../../src/io/model_io';
import { dirSize } from '../../src/io/sizes';
import { Rng32 } from '../../src/util/rng';
import { expectQnnError, inputsFor, ioHooks, mlp, weightMap } from './helpers';

/** The TF.js runtime and a fresh temporary directory for each test. */
const io = ioHooks();

/** Values on a grid: fround(code·step + min), the TF.js decode rule. */
function onGrid(codes: Int32Array, step: number, min: number): Float32Array {
  return Float32Array.from(codes, (c) => Math.fround(c * step + min));
}

/** Seeded codes in [0, levels) for every element of a weight. */
function randomCodes(n: number, levels: number, seed: number): Int32Array {
  const rng = new Rng32(seed);
  return Int32Array.from({ length: n }, () => rng.below(levels));
}

/** Sets the named weight of `model` to `values` (the in-memory model then holds the quantized weights). */
function setWeight(model: tfjs.LayersModel, name: string, values: Float32Array): void {
  const layer = model.layers.find((l) => l.weights.some((w) => w.originalName === name))!;
  const ws = layer.getWeights().map((t, k) => (layer.weights[k].originalName === name ? io.tf.tensor(values, t.shape) : t));
  layer.setWeights(ws);
}

function kernelName(model: tfjs.LayersModel, layer: number): string {
  return model.layers[layer].weights[0].originalName;
}

/** Exports, checks the manifest rules and the stock reload, returns the export and manifest entries by name. */
async function exportAndCheck(model: tfjs.LayersModel, tensors: QuantizedTensor[]) {
  for (const t of tensors) setWeight(model, t.name, t.values);
  const dir = path.join(io.tmp.dir, 'out');
  const res = await exportQuantizedTfjs(model, tensors, dir, { metadata: { bits: 4 } });
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  expect(json.format).toBe('layers-model');
  expect(json.convertedBy).toBe('qnn-native');
  expect(json.userDefinedMetadata).toEqual({ bits: 4 });
  const entries = new Map<string, Record<string, unknown>>(json.weightsManifest[0].weights.map((w: { name: string }) => [w.name, w]));
  for (const [name, e] of entries) {
    expect(e.dtype).toBe('float32');
    // Never `quantization: null`: the key exists only on quantized entries.
    expect('quantization' in e).toBe(res.tensors.some((t) => t.name === name && t.dtype !== 'float32'));
  }
  const check = await roundTripCheck(dir, model, inputsFor(model).values, inputsFor(model).shape);
  expect(check).toEqual({ maxAbsDiffLogits: 0, weightsBitExact: true });
  // Stock loader: every weight bit-exact against the quantized values.
  const loaded = weightMap(await io.tf.loadLayersModel(fileIO(dir)));
  for (const t of tensors) expect(Array.from(loaded.get(t.name)!)).toEqual(Array.from(t.values));
  const files = fs.readdirSync(dir);
  expect(res.bytes).toBe(files.reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0));
  expect(res.gzipBytes).toBe(files.reduce((s, f) => s + gzipSync(fs.readFileSync(path.join(dir, f)), { level: 9 }).length, 0));
  expect(await dirSize(dir)).toEqual({ bytes: res.bytes, gzipBytes: res.gzipBytes });
  const expectedBin = model.weights.reduce((s, w) => {
    const r = res.tensors.find((t) => t.name === w.originalName);
    return s + (r ? r.bytes : 4 * w.shape.reduce((a: number, b) => a * (b as number), 1));
  }, 0);
  expect(fs.statSync(path.join(dir, 'weights.bin')).size).toBe(expectedBin);
  return { res, entries, dir };
}

describe('exportQuantizedTfjs', () => {
  test('(a) symmetric grid with exact zero → uint8 codes, scale δ, min −Kδ', async () => {
    const model = mlp(io.tf);
    const name = kernelName(model, 0);
    const delta = 0.037;
    const K = 7;
    const min = -(K * delta);
    const codes = randomCodes(30, 2 * K + 1, 1);
    codes[0] = K; // make sure zero occurs
    const values = onGrid(codes, delta, min);
    expect(Object.is(values[0], 0)).toBe(true);
    const { res, entries, dir } = await exportAndCheck(model, [{ name, values, grid: { step: delta, min }, codes }]);
    expect(res.tensors).toEqual([{ name, dtype: 'uint8', scale: delta, min, exact: true, levels: new Set(values).size, bytes: 30 }]);
    expect(entries.get(name)!.quantization).toEqual({ dtype: 'uint8', scale: delta, min, original_dtype: 'float32' });
    // The kernel is stored first, as the given codes.
    expect(Array.from(fs.readFileSync(path.join(dir, 'weights.bin')).subarray(0, 30))).toEqual(Array.from(codes));
    expect(weightMap(await loadModel(dir)).get(name)![0]).toBe(0);
  });

  test('(a) the same values without a grid: an exact grid is inferred', async () => {
    const model = mlp(io.tf);
    const name = kernelName(model, 0);
    const values = onGrid(randomCodes(30, 15, 2), 0.037, -(7 * 0.037));
    const { res } = await exportAndCheck(model, [{ name, values }]);
    expect(res.tensors[0]).toMatchObject({ name, dtype: 'uint8', exact: true, levels: new Set(values).size });
  });

  test('(b) 4 levels given on a half-step grid: stored as declared; coarsened when that turns uint16 into uint8', async () => {
    const model = mlp(io.tf);
    const k0 = kernelName(model, 0);
    const k1 = kernelName(model, 1);
    const h = 0.05;
    // 4 levels, even codes on the grid of step h/2.
    const codes4 = Int32Array.from(randomCodes(30, 4, 3), (c) => 2 * c);
    const v4 = onGrid(codes4, h / 2, -0.1);
    // 256 levels, even codes up to 510 on the grid of step h/2: uint16 as declared, uint8 on step h.
    const codes256 = Int32Array.from({ length: 15 }, (_, i) => 2 * Math.round((i * 255) / 14));
    const v256 = onGrid(codes256, h / 2, -3);
    const { res } = await exportAndCheck(model, [
      { name: k0, values: v4, grid: { step: h / 2, min: -0.1 }, codes: codes4 },
      { name: k1, values: v256, grid: { step: h / 2, min: -3 }, codes: codes256 },
    ]);
    expect(res.tensors[0]).toMatchObject({ dtype: 'uint8', scale: h / 2, min: -0.1, exact: true, levels: new Set(v4).size });
    expect(res.tensors[1]).toMatchObject({ dtype: 'uint8', scale: h, min: -3, exact: true, levels: 15 });
  });

  test('(c) values on no uint grid: float16 when exact in half precision, else float32, marked not exact', async () => {
    const model = mlp(io.tf);
    const k0 = kernelName(model, 0);
    const k1 = kernelName(model, 1);
    const rng = new Rng32(5);
    const noisy = Float32Array.from({ length: 30 }, () => rng.normal());
    // Exact binary16 numbers (2^-15 is subnormal there) spanning too many grid steps for uint16.
    const halves = Float32Array.from({ length: 15 }, (_, i) => [1, 1.5, 1024, 2 ** -15, -0.25][i % 5]);
    const { res, entries } = await exportAndCheck(model, [
      { name: k0, values: noisy },
      { name: k1, values: halves },
    ]);
    expect(res.tensors[0]).toEqual({ name: k0, dtype: 'float32', exact: false, levels: 30, bytes: 120 });
    expect(res.tensors[1]).toEqual({ name: k1, dtype: 'float16', exact: true, levels: 5, bytes: 30 });
    expect(entries.get(k1)!.quantization).toEqual({ dtype: 'float16', original_dtype: 'float32' });
  });

  test('uint16 path: 1000 levels, declared and inferred', async () => {
    const model = io.tf.sequential({ layers: [io.tf.layers.dense({ inputShape: [40], units: 30 }), io.tf.layers.dense({ units: 30 })] });
    const k0 = kernelName(model, 0);
    const k1 = kernelName(model, 1);
    const codes = Int32Array.from({ length: 1200 }, (_, i) => (i * 7) % 1000);
    const values = onGrid(codes, 0.001, -0.5);
    const inferred = onGrid(Int32Array.from({ length: 900 }, (_, i) => i % 1000), 0.002, -1);
    const { res } = await exportAndCheck(model, [
      { name: k0, values, grid: { step: 0.001, min: -0.5 }, codes },
      { name: k1, values: inferred },
    ]);
    expect(res.tensors[0]).toEqual({ name: k0, dtype: 'uint16', scale: 0.001, min: -0.5, exact: true, levels: 1000, bytes: 2400 });
    expect(res.tensors[1]).toMatchObject({ name: k1, dtype: 'uint16', exact: true, levels: 900, bytes: 1800 });
  });

  test('inference recovers seeded random grids (asymmetric and symmetric, subsets of levels)', async () => {
    const model = io.tf.sequential({ layers: [io.tf.layers.dense({ inputShape: [32], units: 32, useBias: false })] });
    const name = kernelName(model, 0);
    const rng = new Rng32(42);
    const got: string[] = [];
    const want: string[] = [];
    for (const L of [2, 16, 255, 256, 3000]) {
      for (let rep = 0; rep < 4; rep++) {
        const step = 10 ** (-4 + 4 * rng.uniform());
        const min = rep % 2 === 0 ? -(Math.floor((L - 1) / 2) * step) : -3 * rng.uniform();
        const values = onGrid(Int32Array.from({ length: 1024 }, () => rng.below(L)), step, min);
        const res = await exportQuantizedTfjs(model, [{ name, values }], path.join(io.tmp.dir, `g${L}-${rep}`));
        got.push(`${L}/${rep}: ${res.tensors[0].dtype}`);
        want.push(`${L}/${rep}: ${L <= 256 ? 'uint8' : 'uint16'}`);
        const loaded = weightMap(await loadModel(path.join(io.tmp.dir, `g${L}-${rep}`)));
        expect(Array.from(loaded.get(name)!)).toEqual(Array.from(values));
      }
    }
    expect(got).toEqual(want);
  });

  test('negative codes are rebased onto a uint grid', async () => {
    const model = mlp(io.tf);
    const name = kernelName(model, 0);
    const codes = Int32Array.from(randomCodes(30, 9, 8), (c) => c - 4);
    const values = onGrid(codes, 0.25, 0);
    const { res } = await exportAndCheck(model, [{ name, values, grid: { step: 0.25, min: 0 }, codes }]);
    expect(res.tensors[0]).toMatchObject({ dtype: 'uint8', scale: 0.25, min: -1, exact: true });
  });

  test('bad input is refused without writing anything', async () => {
    const model = mlp(io.tf);
    const name = kernelName(model, 0);
    const out = path.join(io.tmp.dir, 'x');
    const codes = randomCodes(30, 4, 1);
    const values = onGrid(codes, 0.1, -0.2);
    const off = Float32Array.from(values);
    off[3] += 1e-3;
    await expectQnnError(exportQuantizedTfjs(model, [{ name, values: off, grid: { step: 0.1, min: -0.2 }, codes }], out), 'QNN_E_VALUE', name, 'index 3', 'not on its grid');
    await expectQnnError(exportQuantizedTfjs(model, [{ name: 'nope/kernel', values }], out), 'QNN_E_VALUE', "'nope/kernel'", name);
    await expectQnnError(exportQuantizedTfjs(model, [{ name, values: values.subarray(1) }], out), 'QNN_E_SHAPE', name);
    await expectQnnError(exportQuantizedTfjs(model, [{ name, values: Float32Array.from(values, (v, i) => (i === 2 ? NaN : v)) }], out), 'QNN_E_VALUE', 'non-finite');
    await expectQnnError(exportQuantizedTfjs(model, [{ name, values }, { name, values }], out), 'QNN_E_VALUE', 'twice');
    expect(fs.readdirSync(io.tmp.dir)).toEqual([]);
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'f'), '');
    await expectQnnError(exportQuantizedTfjs(model, [{ name, values }], out), 'QNN_E_EXISTS', out, '--force');
    await exportQuantizedTfjs(model, [{ name, values }], out, { overwrite: true });
    expect(fs.readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
  });

  test('roundTripCheck rejects an input that does not fill its shape', async () => {
    const model = mlp(io.tf);
    const dir = path.join(io.tmp.dir, 'd');
    await exportQuantizedTfjs(model, [], dir);
    await expectQnnError(roundTripCheck(dir, model, new Float32Array(5), [1, 6]), 'QNN_E_SHAPE', '[1,6]');
  });
});
