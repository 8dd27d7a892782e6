/**
 * INQ export format: bit-exact round trip (powers of two at several bit widths, float weights
 * beside them), codes at `bits` bits per weight, loadModel dispatch, and validation of corrupt or
 * truncated files.
 */
import * as fs from 'fs';
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import { exportInq, INQ_BIN, loadInq } from '../../src/io/inq';
import { fileIO, loadModel } from '../../src/io/model_io';
import { inqExponents, inqQuantize } from '../../src/methods/inq';
import { cnn, expectQnnError, ioHooks, predict, weightMap } from './helpers';

/** The TF.js runtime and a fresh temporary directory for each test. */
const io = ioHooks();

/** Replaces weight `name` of `model` by its one-shot INQ values at `bits`; returns the export tensor. */
function inqTensor(model: tfjs.LayersModel, name: string, bits: number): { name: string; values: Float32Array; n1: number; bits: number } {
  const w = model.weights.find((x) => x.originalName === name)!;
  const v = w.read().dataSync() as Float32Array;
  const { n1, n2 } = inqExponents(v.reduce((m, x) => Math.max(m, Math.abs(x)), 0), bits);
  const values = inqQuantize(v, n1, n2);
  const t = io.tf.tensor(values, w.shape as number[]);
  w.write(t);
  t.dispose();
  return { name, values, n1, bits };
}

/** Conv2D → BN → DepthwiseConv2D → Flatten → Dense with its three kernels INQ-quantized at 5, 3 and 8 bits. */
function quantizedCnn(): { model: tfjs.LayersModel; tensors: ReturnType<typeof inqTensor>[] } {
  const model = cnn(io.tf);
  const kernels = [model.layers[0], model.layers[2], model.layers[4]].map((l) => l.weights[0].originalName);
  return { model, tensors: kernels.map((name, i) => inqTensor(model, name, [5, 3, 8][i])) };
}

/** Reads and rewrites the model.json of `dir` through `edit`. */
function editJson(dir: string, edit: (json: { qnnInq: Record<string, any> }) => void): void {
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(json);
  fs.writeFileSync(file, JSON.stringify(json));
}

describe('exportInq / loadInq', () => {
  test('round trip: bit-exact weights and equal predictions; loadModel dispatches; a stock handler refuses', async () => {
    const { model, tensors } = quantizedCnn();
    const dir = path.join(io.tmp.dir, 'inq');
    const r = await exportInq(model, tensors, dir, { metadata: { method: 'inq' } });
    expect(r.dir).toBe(dir);
    expect(r.tensors.map(({ name, bits }) => [name, bits])).toEqual(tensors.map((t) => [t.name, t.bits]));
    expect(r.tensors.map((t) => t.n2)).toEqual(tensors.map((t) => Math.trunc(t.n1 + 1 - 2 ** (t.bits - 2))));
    expect(fs.readdirSync(dir).sort()).toEqual([INQ_BIN, 'model.json']);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('qnn-inq');
    expect(json.userDefinedMetadata).toEqual({ method: 'inq' });
    expect(json.modelTopology).toBeUndefined();
    for (const load of [loadInq, loadModel]) {
      const back = await load(dir);
      expect(weightMap(back)).toEqual(weightMap(model));
      expect(predict(io.tf, back)).toEqual(predict(io.tf, model));
    }
    await expectQnnError(io.tf.loadLayersModel(fileIO(dir)), 'QNN_E_MODEL', 'INQ model', 'loadInq()');
  });

  test('codes take bits/32 of the float32 kernel bytes; the size is reported against float32', async () => {
    const model = io.tf.sequential({ layers: [io.tf.layers.dense({ inputShape: [784], units: 64, kernelInitializer: io.tf.initializers.glorotUniform({ seed: 1 }) })] });
    const kernel = model.weights[0].originalName;
    const t = inqTensor(model, kernel, 5);
    const r = await exportInq(model, [t], path.join(io.tmp.dir, 'dense'));
    const n = 784 * 64;
    expect(r.tensors[0].bytes).toBe(Math.ceil((n * 5) / 8));
    expect(r.tensors[0].bytes / (4 * n)).toBeCloseTo(5 / 32, 6);
    expect(r.float32Bytes).toBe(4 * (n + 64));
    // inq.bin = codes + the float32 bias; model.json adds the topology.
    expect(fs.statSync(path.join(io.tmp.dir, 'dense', INQ_BIN)).size).toBe(Math.ceil((n * 5) / 8) + 4 * 64);
    expect(r.bytes).toBeLessThan(0.2 * r.float32Bytes);
    expect(r.gzipBytes).toBeLessThan(r.bytes);
    expect(weightMap(await loadInq(r.dir))).toEqual(weightMap(model));
  });

  test('export errors: values off the INQ grid, unknown weights, an existing directory', async () => {
    const { model, tensors } = quantizedCnn();
    const bad = { ...tensors[0], values: tensors[0].values.map((v, i) => (i === 2 ? 0.3 : v)) };
    await expectQnnError(exportInq(model, [bad], path.join(io.tmp.dir, 'a')), 'QNN_E_VALUE', `INQ tensor '${tensors[0].name}'`, '`values[2]` = 0.30000001192092896');
    await expectQnnError(exportInq(model, [{ ...tensors[0], name: 'nope/kernel' }], path.join(io.tmp.dir, 'b')), 'QNN_E_VALUE', "no weight named 'nope/kernel'");
    const dir = path.join(io.tmp.dir, 'c');
    await exportInq(model, tensors, dir);
    await expectQnnError(exportInq(model, tensors, dir), 'QNN_E_EXISTS', dir);
    await exportInq(model, tensors, dir, { overwrite: true });
    expect(fs.existsSync(path.join(io.tmp.dir, 'a'))).toBe(false);
  });

  test('corrupt or truncated directories are refused with QNN_E_MODEL (missing file: QNN_E_IO; new version: QNN_E_UNSUPPORTED)', async () => {
    const { model, tensors } = quantizedCnn();
    const fresh = async (name: string): Promise<string> => {
      const dir = path.join(io.tmp.dir, name);
      await exportInq(model, tensors, dir);
      return dir;
    };
    const truncated = await fresh('truncated');
    const bin = path.join(truncated, INQ_BIN);
    fs.truncateSync(bin, fs.statSync(bin).size - 1);
    await expectQnnError(loadInq(truncated), 'QNN_E_MODEL', 'has', 'bytes but model.json needs');

    // An invalid 5-bit code: magnitude field 9 > 2^3 in the first tensor's first weight.
    const badCode = await fresh('bad-code');
    const bytes = fs.readFileSync(path.join(badCode, INQ_BIN));
    bytes[0] = (bytes[0] & ~0x1f) | 9;
    fs.writeFileSync(path.join(badCode, INQ_BIN), bytes);
    await expectQnnError(loadModel(badCode), 'QNN_E_MODEL', `INQ tensor '${tensors[0].name}'`, 'not a valid 5-bit INQ code');

    const badN2 = await fresh('bad-n2');
    editJson(badN2, (j) => (j.qnnInq.tensors[1].n2 -= 1));
    await expectQnnError(loadInq(badN2), 'QNN_E_MODEL', 'inconsistent entry');

    const badOffset = await fresh('bad-offset');
    editJson(badOffset, (j) => (j.qnnInq.tensors[2].offset = j.qnnInq.byteLength));
    await expectQnnError(loadInq(badOffset), 'QNN_E_MODEL', `the codes of '${tensors[2].name}' lies outside ${INQ_BIN}`);

    const badShape = await fresh('bad-shape');
    editJson(badShape, (j) => (j.qnnInq.plain.weights[0].shape = [1]));
    await expectQnnError(loadInq(badShape), 'QNN_E_MODEL', 'cannot build the model');

    const noManifest = await fresh('no-manifest');
    editJson(noManifest, (j) => (j.qnnInq = null as never));
    await expectQnnError(loadInq(noManifest), 'QNN_E_MODEL', 'no qnnInq manifest');

    const version = await fresh('version');
    editJson(version, (j) => (j.qnnInq.version = 2));
    await expectQnnError(loadInq(version), 'QNN_E_UNSUPPORTED', 'version 2');

    const missing = await fresh('missing');
    fs.rmSync(path.join(missing, INQ_BIN));
    await expectQnnError(loadInq(missing), 'QNN_E_IO', 'not found');
  });
});
