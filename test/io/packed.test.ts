import * as fs from 'fs';
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import { fileIO, loadModel, saveModel } from '../../src/io/model_io';
import { exportPacked, loadPacked, packCodes, PACKED_BIN, unpackCodes } from '../../src/io/packed';
import { dirSize } from '../../src/io/sizes';
import { Rng32 } from '../../src/util/rng';
import { cnn, expectQnnError, ioHooks, mlp, predict, weightMap } from './helpers';

/** The TF.js runtime and a fresh temporary directory for each test. */
const io = ioHooks();

/** Quantizes weight `name` of `model` in place to `levels` seeded random levels; returns the tensor. */
function quantizeTo(model: tfjs.LayersModel, name: string, levels: number, seed: number): { name: string; values: Float32Array } {
  const rng = new Rng32(seed);
  const table = Float32Array.from({ length: levels }, () => rng.normal());
  const layer = model.layers.find((l) => l.weights.some((w) => w.originalName === name))!;
  const k = layer.weights.findIndex((w) => w.originalName === name);
  const n = layer.weights[k].shape.reduce((a: number, b) => a * (b as number), 1);
  const values = Float32Array.from({ length: n }, (_, i) => table[i < levels ? i : rng.below(levels)]);
  layer.setWeights(layer.getWeights().map((t, j) => (j === k ? io.tf.tensor(values, t.shape) : t)));
  return { name, values };
}

describe('bit packing', () => {
  test('LSB-first known answers', () => {
    // 2 bits: codes 1,2,3,0 → bits 10 01 11 00 from bit 0 up → 0b00111001.
    expect(Array.from(packCodes([1, 2, 3, 0], 2))).toEqual([0x39]);
    // 3 bits: 5 = 101, 3 = 011 → stream 1,0,1,1,1,0 → 0b011101.
    expect(Array.from(packCodes([5, 3], 3))).toEqual([0x1d]);
    // 12 bits straddle bytes: 0xabc, 0x123 → bytes bc, 3a(low nibble of 0x123 is 3, then a), 12.
    expect(Array.from(packCodes([0xabc, 0x123], 12))).toEqual([0xbc, 0x3a, 0x12]);
    expect(packCodes([0, 0, 0], 0).length).toBe(0);
  });

  test.each([1, 2, 3, 4, 5, 7, 8, 9, 13, 16])('%i-bit round trip', (bits) => {
    const rng = new Rng32(bits);
    const codes = Uint16Array.from({ length: 1001 }, () => rng.below(2 ** bits));
    const packed = packCodes(codes, bits);
    expect(packed.length).toBe(Math.ceil((1001 * bits) / 8));
    expect(Array.from(unpackCodes(packed, 1001, bits))).toEqual(Array.from(codes));
  });
});

describe('exportPacked / loadPacked', () => {
  test('round trip: bit-exact weights, equal predictions; loadModel dispatches; stock handler refuses', async () => {
    const model = cnn(io.tf);
    const conv = model.layers[0].weights[0].originalName;
    const dense = model.layers[4].weights[0].originalName;
    const tensors = [quantizeTo(model, conv, 4, 1), quantizeTo(model, dense, 13, 2)];
    const dir = path.join(io.tmp.dir, 'p');
    const res = await exportPacked(model, tensors, dir, { metadata: { method: 'test' } });
    expect(res.tensors).toEqual([
      { name: conv, bits: 2, levels: 4 },
      { name: dense, bits: 4, levels: 13 },
    ]);
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', PACKED_BIN]);
    expect({ bytes: res.bytes, gzipBytes: res.gzipBytes }).toEqual(await dirSize(dir));
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('qnn-packed');
    expect(json.userDefinedMetadata).toEqual({ method: 'test' });
    expect(json.modelTopology).toBeUndefined();

    for (const loaded of [await loadPacked(dir), await loadModel(dir)]) {
      expect(weightMap(loaded)).toEqual(weightMap(model));
      expect(Array.from(predict(io.tf, loaded))).toEqual(Array.from(predict(io.tf, model)));
    }
    await expectQnnError(io.tf.loadLayersModel(fileIO(dir)), 'QNN_E_MODEL', 'packed', 'loadPacked');
  });

  test('a single-level tensor takes 0 bits', async () => {
    const model = mlp(io.tf);
    const name = model.layers[0].weights[0].originalName;
    const values = new Float32Array(30).fill(0.25);
    model.layers[0].setWeights([io.tf.tensor(values, [6, 5]), model.layers[0].getWeights()[1]]);
    const dir = path.join(io.tmp.dir, 'p');
    const res = await exportPacked(model, [{ name, values }], dir);
    expect(res.tensors).toEqual([{ name, bits: 0, levels: 1 }]);
    expect(weightMap(await loadPacked(dir))).toEqual(weightMap(model));
  });

  test('kernel size is about bits/32 of float32', async () => {
    const model = io.tf.sequential({ layers: [io.tf.layers.dense({ inputShape: [128], units: 128, useBias: false })] });
    const name = model.weights[0].originalName;
    const q = quantizeTo(model, name, 16, 3);
    const packedDir = path.join(io.tmp.dir, 'p');
    const floatDir = path.join(io.tmp.dir, 'f');
    await exportPacked(model, [q], packedDir);
    await saveModel(model, floatDir);
    const packedBin = fs.statSync(path.join(packedDir, PACKED_BIN)).size;
    const floatBin = fs.statSync(path.join(floatDir, 'weights.bin')).size;
    expect(floatBin).toBe(128 * 128 * 4);
    // 4 bits per weight + a 16-entry float32 table.
    expect(packedBin).toBe((128 * 128 * 4) / 8 + 16 * 4);
    expect(packedBin / floatBin).toBeCloseTo(4 / 32, 2);
  });

  test('more than 65536 distinct values are refused', async () => {
    const model = io.tf.sequential({ layers: [io.tf.layers.dense({ inputShape: [300], units: 300, useBias: false })] });
    const name = model.weights[0].originalName;
    const values = Float32Array.from({ length: 90000 }, (_, i) => i);
    await expectQnnError(exportPacked(model, [{ name, values }], path.join(io.tmp.dir, 'p')), 'QNN_E_RANGE', name, '65536');
    expect(fs.readdirSync(io.tmp.dir)).toEqual([]);
  });
});

describe('corrupt packed models', () => {
  async function exported(): Promise<string> {
    const model = mlp(io.tf);
    const dir = path.join(io.tmp.dir, 'p');
    await exportPacked(model, [quantizeTo(model, model.layers[0].weights[0].originalName, 4, 5)], dir);
    return dir;
  }
  const editManifest = (dir: string, edit: (m: Record<string, any>) => void): void => {
    const file = path.join(dir, 'model.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    edit(json.qnnPacked);
    fs.writeFileSync(file, JSON.stringify(json));
  };

  test('truncated or missing packed.bin', async () => {
    const dir = await exported();
    const bin = path.join(dir, PACKED_BIN);
    const data = fs.readFileSync(bin);
    fs.writeFileSync(bin, data.subarray(0, data.length - 1));
    await expectQnnError(loadPacked(dir), 'QNN_E_MODEL', `packed.bin has ${data.length - 1} bytes but model.json needs ${data.length}`);
    fs.rmSync(bin);
    await expectQnnError(loadPacked(dir), 'QNN_E_IO', bin);
  });

  test('inconsistent entries, offsets outside the file, codes beyond the level table', async () => {
    const dir = await exported();
    editManifest(dir, (m) => (m.tensors[0].bits = 3));
    await expectQnnError(loadPacked(dir), 'QNN_E_MODEL', 'inconsistent entry');
    const dir2 = path.join(io.tmp.dir, 'p2');
    fs.cpSync(dir, dir2, { recursive: true });
    editManifest(dir2, (m) => {
      m.tensors[0].bits = 2;
      m.tensors[0].codesOffset = m.byteLength;
    });
    await expectQnnError(loadPacked(dir2), 'QNN_E_MODEL', 'outside packed.bin');
    editManifest(dir2, (m) => {
      m.tensors[0].codesOffset = 16; // right after the 4-level table
      m.tensors[0].levelsCount = 3; // still 2 bits, but code 3 now has no level
    });
    await expectQnnError(loadPacked(dir2), 'QNN_E_MODEL', 'has code 3 but only 3 levels');
    editManifest(dir2, (m) => (m.version = 2));
    await expectQnnError(loadPacked(dir2), 'QNN_E_UNSUPPORTED', 'version 2');
  });
});
