import * as fs from 'fs';
import * as path from 'path';

import { fileIO, loadModel, saveModel, WEIGHTS_BIN } from '../../src/io/model_io';
import { cnn, expectQnnError, functionalAdd, ioHooks, mlp, predict, weightMap } from './helpers';

/** The TF.js runtime and a fresh temporary directory for each test. */
const io = ioHooks();

const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));

/** A Dense 3 → 2 model and its model.json topology, for hand-written manifests. */
function denseTopology(): object {
  const m = io.tf.sequential({ layers: [io.tf.layers.dense({ inputShape: [3], units: 2, name: 'd' })] });
  return m.toJSON(null, false) as object;
}

function writeModelDir(dir: string, json: object, files: Record<string, Uint8Array>): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data);
}

describe('save / load round trips', () => {
  test.each([
    ['Dense MLP', mlp],
    ['Conv2D + BatchNormalization + DepthwiseConv2D', cnn],
    ['functional with Add', functionalAdd],
  ])('%s: predictions and weights identical', async (_name, build) => {
    const model = build(io.tf);
    const dir = path.join(io.tmp.dir, 'm');
    await saveModel(model, dir, { metadata: { note: 'hi' } });
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', WEIGHTS_BIN]);
    const json = readJson(path.join(dir, 'model.json'));
    expect(json.format).toBe('layers-model');
    expect(json.convertedBy).toBe('qnn-native');
    expect(json.generatedBy).toMatch(/tfjs-layers/);
    expect(json.userDefinedMetadata).toEqual({ note: 'hi' });
    const bytes = json.weightsManifest[0].weights.reduce((s: number, w: { shape: number[] }) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    expect(fs.statSync(path.join(dir, WEIGHTS_BIN)).size).toBe(bytes);

    for (const loaded of [await loadModel(dir), await loadModel(path.join(dir, 'model.json')), await io.tf.loadLayersModel(fileIO(dir))]) {
      expect(Array.from(predict(io.tf, loaded))).toEqual(Array.from(predict(io.tf, model)));
      expect(weightMap(loaded)).toEqual(weightMap(model));
    }
  });

  test('sharded save splits like the converter and loads back', async () => {
    const model = cnn(io.tf);
    const dir = path.join(io.tmp.dir, 'sharded');
    await saveModel(model, dir, { shardBytes: 100 });
    const json = readJson(path.join(dir, 'model.json'));
    const total = model.weights.reduce((s, w) => s + 4 * w.shape.reduce((a: number, b) => a * (b as number), 1), 0);
    const n = Math.ceil(total / 100);
    const names = Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`);
    expect(json.weightsManifest[0].paths).toEqual(names);
    expect(names.map((f) => fs.statSync(path.join(dir, f)).size)).toEqual(names.map((_, i) => (i < n - 1 ? 100 : total - 100 * (n - 1))));
    const loaded = await loadModel(dir);
    expect(Array.from(predict(io.tf, loaded))).toEqual(Array.from(predict(io.tf, model)));
  });

  test('shardBytes must be a positive integer; the target is a directory, not model.json', async () => {
    await expectQnnError(saveModel(mlp(io.tf), path.join(io.tmp.dir, 'x'), { shardBytes: 0 }), 'QNN_E_RANGE', 'shardBytes');
    await expectQnnError(saveModel(mlp(io.tf), path.join(io.tmp.dir, 'model.json')), 'QNN_E_VALUE', 'directory', io.tmp.dir);
    expect(fs.readdirSync(io.tmp.dir)).toEqual([]);
  });
});

describe('hand-made manifests with quantized weights load through stock TF.js decoding', () => {
  test('uint8 kernel + float16 bias over two groups and three shards', async () => {
    const dir = path.join(io.tmp.dir, 'q8');
    const codes = Uint8Array.from([0, 1, 2, 100, 254, 255]);
    const scale = 0.0123;
    const min = -1.5;
    // float16 bits of 0.5, -2 (exact halves)
    const bias = new Uint8Array(Uint16Array.from([0x3800, 0xc000]).buffer);
    writeModelDir(
      dir,
      {
        modelTopology: denseTopology(),
        weightsManifest: [
          { paths: ['k.bin'], weights: [{ name: 'd/kernel', shape: [3, 2], dtype: 'float32', quantization: { dtype: 'uint8', scale, min } }] },
          { paths: ['b1.bin', 'b2.bin'], weights: [{ name: 'd/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } }] },
        ],
      },
      { 'k.bin': codes, 'b1.bin': bias.subarray(0, 3), 'b2.bin': bias.subarray(3) },
    );
    const w = weightMap(await loadModel(dir));
    expect(Array.from(w.get('d/kernel')!)).toEqual(Array.from(codes, (c) => Math.fround(c * scale + min)));
    expect(Array.from(w.get('d/bias')!)).toEqual([0.5, -2]);
  });

  test('uint16 kernel', async () => {
    const dir = path.join(io.tmp.dir, 'q16');
    const codes = Uint16Array.from([0, 1, 5000, 40000, 65534, 65535]);
    const scale = 1e-4;
    const min = -3;
    const bias = Float32Array.from([0.25, -0.75]);
    writeModelDir(
      dir,
      {
        modelTopology: denseTopology(),
        weightsManifest: [
          {
            paths: ['w.bin'],
            weights: [
              { name: 'd/kernel', shape: [3, 2], dtype: 'float32', quantization: { dtype: 'uint16', scale, min } },
              { name: 'd/bias', shape: [2], dtype: 'float32' },
            ],
          },
        ],
      },
      { 'w.bin': Buffer.concat([new Uint8Array(codes.buffer), new Uint8Array(bias.buffer)]) },
    );
    const w = weightMap(await loadModel(dir));
    expect(Array.from(w.get('d/kernel')!)).toEqual(Array.from(codes, (c) => Math.fround(c * scale + min)));
    expect(Array.from(w.get('d/bias')!)).toEqual([0.25, -0.75]);
  });
});

describe('load errors name the input and the fix', () => {
  async function savedMlp(): Promise<string> {
    const dir = path.join(io.tmp.dir, 'm');
    await saveModel(mlp(io.tf), dir);
    return dir;
  }

  test('missing path, missing model.json', async () => {
    await expectQnnError(loadModel(path.join(io.tmp.dir, 'nope')), 'QNN_E_IO', path.join(io.tmp.dir, 'nope'));
    fs.mkdirSync(path.join(io.tmp.dir, 'empty'));
    await expectQnnError(loadModel(path.join(io.tmp.dir, 'empty')), 'QNN_E_IO', path.join(io.tmp.dir, 'empty', 'model.json'));
  });

  test('missing shard', async () => {
    const dir = await savedMlp();
    fs.rmSync(path.join(dir, WEIGHTS_BIN));
    await expectQnnError(loadModel(dir), 'QNN_E_IO', path.join(dir, WEIGHTS_BIN), 'not found');
    await expectQnnError(io.tf.loadLayersModel(fileIO(dir)), 'QNN_E_IO', WEIGHTS_BIN);
  });

  test('byte count mismatch, too few and too many', async () => {
    const dir = await savedMlp();
    const bin = path.join(dir, WEIGHTS_BIN);
    const data = fs.readFileSync(bin);
    fs.writeFileSync(bin, data.subarray(0, data.length - 4));
    await expectQnnError(loadModel(dir), 'QNN_E_MODEL', `weights.bin in ${dir} has ${data.length - 4} bytes but model.json needs ${data.length}`);
    fs.writeFileSync(bin, Buffer.concat([data, Buffer.alloc(2)]));
    await expectQnnError(loadModel(dir), 'QNN_E_MODEL', `has ${data.length + 2} bytes but model.json needs ${data.length}`);
  });

  test('corrupt JSON reports the parse error', async () => {
    const dir = await savedMlp();
    const json = path.join(dir, 'model.json');
    fs.writeFileSync(json, fs.readFileSync(json, 'utf8').slice(0, 50));
    const e = await expectQnnError(loadModel(dir), 'QNN_E_MODEL', json, 'not valid JSON');
    expect(e.message).toMatch(/JSON/);
  });

  test('unknown quantization dtype and missing topology', async () => {
    const dir = path.join(io.tmp.dir, 'bad');
    writeModelDir(
      dir,
      { modelTopology: denseTopology(), weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'd/kernel', shape: [3, 2], dtype: 'float32', quantization: { dtype: 'int4' } }] }] },
      { 'w.bin': new Uint8Array(6) },
    );
    await expectQnnError(loadModel(dir), 'QNN_E_MODEL', "weight 'd/kernel'", 'int4');
    writeModelDir(
      dir,
      { modelTopology: denseTopology(), weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'd/kernel', shape: [3, 2], dtype: 'float32', quantization: null }] }] },
      { 'w.bin': new Uint8Array(24) },
    );
    await expectQnnError(loadModel(dir), 'QNN_E_MODEL', "weight 'd/kernel'", 'quantization dtype');
    writeModelDir(dir, { weightsManifest: [] }, {});
    await expectQnnError(loadModel(dir), 'QNN_E_MODEL', 'no modelTopology');
  });

  test('unsupported layer class is named', async () => {
    const dir = await savedMlp();
    const jsonPath = path.join(dir, 'model.json');
    const json = readJson(jsonPath);
    json.modelTopology.config.layers[1].class_name = 'FancyDense';
    fs.writeFileSync(jsonPath, JSON.stringify(json));
    await expectQnnError(loadModel(dir), 'QNN_E_MODEL', "'FancyDense'", jsonPath);
  });

  test('.keras archives are refused with a hint', async () => {
    await expectQnnError(loadModel(path.join(io.tmp.dir, 'm.keras')), 'QNN_E_UNSUPPORTED', 'model.h5');
  });
});

describe('atomic, non-clobbering saves', () => {
  test('refuses to overwrite a non-empty directory unless overwrite', async () => {
    const dir = path.join(io.tmp.dir, 'out');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'keep.txt'), 'x');
    await expectQnnError(saveModel(mlp(io.tf), dir), 'QNN_E_EXISTS', dir, '--force');
    expect(fs.readdirSync(dir)).toEqual(['keep.txt']);
    const model = mlp(io.tf, 7);
    await saveModel(model, dir, { overwrite: true });
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', WEIGHTS_BIN]);
    expect(weightMap(await loadModel(dir))).toEqual(weightMap(model));
    // An existing empty directory is simply filled.
    fs.mkdirSync(path.join(io.tmp.dir, 'empty'));
    await saveModel(model, path.join(io.tmp.dir, 'empty'));
    expect(fs.readdirSync(path.join(io.tmp.dir, 'empty')).sort()).toEqual(['model.json', WEIGHTS_BIN]);
  });

  test('a save failing mid-way leaves no directory and no temp files; an existing one stays intact', async () => {
    const real = fs.promises.writeFile;
    let calls = 0;
    const spy = jest.spyOn(fs.promises, 'writeFile').mockImplementation(async (...args: Parameters<typeof real>) => {
      if (++calls === 2) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
      return real(...args);
    });
    try {
      const dir = path.join(io.tmp.dir, 'out');
      await expectQnnError(saveModel(mlp(io.tf), dir), 'QNN_E_IO', 'disk full', dir);
      expect(calls).toBe(2);
      expect(fs.readdirSync(io.tmp.dir)).toEqual([]);

      spy.mockRestore();
      const old = mlp(io.tf, 11);
      await saveModel(old, dir);
      calls = 0;
      jest.spyOn(fs.promises, 'writeFile').mockImplementation(async (...args: Parameters<typeof real>) => {
        if (++calls === 2) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
        return real(...args);
      });
      await expectQnnError(saveModel(mlp(io.tf, 12), dir, { overwrite: true }), 'QNN_E_IO', 'disk full');
      expect(fs.readdirSync(io.tmp.dir)).toEqual(['out']);
      jest.restoreAllMocks();
      expect(weightMap(await loadModel(dir))).toEqual(weightMap(old));
    } finally {
      jest.restoreAllMocks();
    }
  });
});
