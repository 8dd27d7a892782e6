import * as fs from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';

import type * as tfjs from '@tensorflow/tfjs';

import { h5wasm, loadKerasH5, loadKerasH5Weights, saveKerasH5, type H5wasm } from '../../src/io/h5';
import { loadModel } from '../../src/io/model_io';
import { dirSize } from '../../src/io/sizes';
import { getTf, type Tf } from '../../src/tf/runtime';
import { cnn, expectQnnError, functionalAdd, mlp, predict, tmpDir, weightMap } from './helpers';

type H5File = InstanceType<H5wasm['File']>;

let tf: Tf;
let h5: H5wasm;
let tmp: ReturnType<typeof tmpDir>;

beforeAll(async () => {
  tf = await getTf();
  h5 = await h5wasm();
});
beforeEach(() => {
  tmp = tmpDir();
});
afterEach(() => tmp.cleanup());

function writeH5(file: string, fill: (f: H5File) => void): void {
  const f = new h5.File(file, 'w');
  try {
    fill(f);
  } finally {
    f.close();
  }
}

/** Writes the weights of `model` Keras-style into `group` (layer groups + layer_names / weight_names). */
function writeWeightGroups(group: InstanceType<H5wasm['Group']>, model: tfjs.LayersModel): void {
  group.create_attribute('layer_names', model.layers.map((l) => l.name), [model.layers.length], 'S');
  for (const layer of model.layers) {
    const g = group.create_group(layer.name);
    const names = layer.weights.map((w) => w.originalName.split('/').pop() as string);
    if (names.length > 0) g.create_attribute('weight_names', names, [names.length], 'S');
    layer.weights.forEach((w, k) => g.create_dataset({ name: names[k], data: Float32Array.from(w.read().dataSync()), shape: w.shape as number[], dtype: '<f' }));
  }
}

describe('saveKerasH5 → loadKerasH5', () => {
  test.each([
    ['Dense MLP', mlp],
    ['Conv2D + BatchNormalization + DepthwiseConv2D', cnn],
    ['functional with Add', functionalAdd],
  ])('%s round-trips with identical predictions', async (_name, build) => {
    const model = build(tf);
    const file = path.join(tmp.dir, 'm.h5');
    await saveKerasH5(model, file);
    expect(fs.readdirSync(tmp.dir)).toEqual(['m.h5']);
    for (const loaded of [await loadKerasH5(file), await loadModel(file)]) {
      expect(Array.from(predict(tf, loaded))).toEqual(Array.from(predict(tf, model)));
      expect(weightMap(loaded)).toEqual(weightMap(model));
    }
  });

  test('the file has the Keras 2 layout', async () => {
    const model = mlp(tf);
    const file = path.join(tmp.dir, 'm.h5');
    await saveKerasH5(model, file);
    const f = new h5.File(file, 'r');
    try {
      expect(f.attrs.backend.value).toBe('tensorflow');
      expect(typeof f.attrs.keras_version.value).toBe('string');
      const config = JSON.parse(f.attrs.model_config.value as string);
      expect(config.class_name).toBe('Sequential');
      const mw = f.get('model_weights') as InstanceType<H5wasm['Group']>;
      expect(mw.attrs.layer_names.value).toEqual(model.layers.map((l) => l.name));
      const layer = model.layers[0];
      const g = mw.get(layer.name) as InstanceType<H5wasm['Group']>;
      expect(g.attrs.weight_names.value).toEqual([`${layer.name}/kernel:0`, `${layer.name}/bias:0`]);
      const ds = f.get(`model_weights/${layer.name}/${layer.name}/kernel:0`) as InstanceType<H5wasm['Dataset']>;
      expect(ds.shape).toEqual([6, 5]);
      expect(Array.from(ds.value as Float32Array)).toEqual(Array.from(weightMap(model).get(`${layer.name}/kernel`)!));
    } finally {
      f.close();
    }
  });

  test('dirSize of a single .h5 file', async () => {
    const file = path.join(tmp.dir, 'm.h5');
    await saveKerasH5(mlp(tf), file);
    const data = fs.readFileSync(file);
    expect(await dirSize(file)).toEqual({ bytes: data.length, gzipBytes: gzipSync(data, { level: 9 }).length });
    await expectQnnError(dirSize(path.join(tmp.dir, 'none')), 'QNN_E_IO', 'none');
  });

  test('refuses to replace an existing file unless overwrite', async () => {
    const file = path.join(tmp.dir, 'm.h5');
    fs.writeFileSync(file, 'x');
    await expectQnnError(saveKerasH5(mlp(tf), file), 'QNN_E_EXISTS', file, '--force');
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
    await saveKerasH5(mlp(tf), file, { overwrite: true });
    expect((await loadKerasH5(file)).layers.length).toBe(2);
  });
});

describe('Keras 3 legacy .h5 (hand-written config and weights)', () => {
  const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const kt = (layer: string, units: number) => ({ class_name: '__keras_tensor__', config: { shape: [null, units], dtype: 'float32', keras_history: [layer, 0, 0] } });
  const dense = (name: string, units: number, activation: string, input: object) => ({
    module: 'keras.layers',
    class_name: 'Dense',
    config: {
      name,
      trainable: true,
      dtype: policy,
      units,
      activation,
      use_bias: true,
      kernel_initializer: { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null },
      bias_initializer: { module: 'keras.initializers', class_name: 'Zeros', config: {}, registered_name: null },
      kernel_regularizer: null,
      bias_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      quantization_config: null,
    },
    registered_name: null,
    build_config: { input_shape: [null, 3] },
    name,
    inbound_nodes: [{ args: [input], kwargs: {} }],
  });
  const config = {
    module: 'keras',
    class_name: 'Functional',
    config: {
      name: 'functional',
      trainable: true,
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 3], dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null, name: 'input_layer', inbound_nodes: [] },
        dense('dense', 2, 'relu', kt('input_layer', 3)),
        dense('dense_1', 2, 'linear', kt('input_layer', 3)),
        { module: 'keras.layers', class_name: 'Add', config: { name: 'add', trainable: true, dtype: policy }, registered_name: null, name: 'add', inbound_nodes: [{ args: [[kt('dense', 2), kt('dense_1', 2)]], kwargs: {} }] },
        dense('dense_2', 1, 'linear', kt('add', 2)),
      ],
      input_layers: ['input_layer', 0, 0],
      output_layers: ['dense_2', 0, 0],
    },
    registered_name: 'Functional',
  };
  // Keras 3 weight names (no ':0'); dense_1 stored as float64 like a numpy default array.
  const W: Record<string, { kernel: number[]; bias: number[]; units: number }> = {
    dense: { kernel: [0.5, -1, 0.25, 2, -0.75, 1.5], bias: [0.1, -0.2], units: 2 },
    dense_1: { kernel: [1, 0.5, -0.5, 0.25, 2, -1], bias: [0, 0.3], units: 2 },
    dense_2: { kernel: [1.5, -2], bias: [0.05], units: 1 },
  };

  function writeKeras3(file: string): void {
    writeH5(file, (f) => {
      f.create_attribute('keras_version', '3.5.0');
      f.create_attribute('backend', 'tensorflow');
      f.create_attribute('model_config', JSON.stringify(config));
      const mw = f.create_group('model_weights');
      // layer_names split the way Keras splits attributes larger than 64 KB.
      mw.create_attribute('layer_names0', ['input_layer', 'dense', 'dense_1'], [3], 'S');
      mw.create_attribute('layer_names1', ['add', 'dense_2'], [2], 'S');
      for (const name of ['input_layer', 'add']) mw.create_group(name).create_attribute('weight_names', new Float64Array(0));
      for (const [name, w] of Object.entries(W)) {
        const g = mw.create_group(name);
        g.create_attribute('weight_names', [`${name}/kernel`, `${name}/bias`], [2], 'S');
        const inner = g.create_group(name);
        const Arr = name === 'dense_1' ? Float64Array : Float32Array;
        inner.create_dataset({ name: 'kernel', data: Arr.from(w.kernel), shape: [w.kernel.length / w.units, w.units], dtype: name === 'dense_1' ? '<d' : '<f' });
        inner.create_dataset({ name: 'bias', data: Arr.from(w.bias), shape: [w.units], dtype: name === 'dense_1' ? '<d' : '<f' });
      }
    });
  }

  /** The same network evaluated by hand in doubles. */
  function reference(x: number[]): number {
    const denseFwd = (w: (typeof W)[string], v: number[]) =>
      Array.from({ length: w.units }, (_, j) => v.reduce((s, xi, i) => s + xi * w.kernel[i * w.units + j], w.bias[j]));
    const a = denseFwd(W.dense, x).map((v) => Math.max(0, v));
    const b = denseFwd(W.dense_1, x);
    return denseFwd(W.dense_2, a.map((v, i) => v + b[i]))[0];
  }

  test('shimmed config builds and predicts like the hand computation', async () => {
    const file = path.join(tmp.dir, 'k3.h5');
    writeKeras3(file);
    const model = await loadKerasH5(file);
    expect(model.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'Dense', 'Dense', 'Add', 'Dense']);
    const xs = [
      [1, 2, 3],
      [-1, 0.5, 2],
      [0, 0, 0],
    ];
    const y = tf.tidy(() => (model.predict(tf.tensor2d(xs)) as tfjs.Tensor).dataSync());
    xs.forEach((x, i) => expect(y[i]).toBeCloseTo(reference(x), 5));
    expect(Array.from(weightMap(model).get('dense_1/kernel')!)).toEqual(W.dense_1.kernel);
  });

  test('unsupported layer class in model_config is named', async () => {
    const file = path.join(tmp.dir, 'bad.h5');
    const bad = JSON.parse(JSON.stringify(config));
    bad.config.layers[3].class_name = 'Subtract';
    writeH5(file, (f) => {
      f.create_attribute('model_config', JSON.stringify(bad));
      f.create_group('model_weights').create_attribute('layer_names', ['dense'], [1], 'S');
    });
    await expectQnnError(loadKerasH5(file), 'QNN_E_MODEL', "'Subtract'", "layer 'add'", file);
  });
});

describe('weights-only files', () => {
  test('loadKerasH5 points to loadKerasH5Weights, which loads by name or by order', async () => {
    const src = mlp(tf, 21);
    const file = path.join(tmp.dir, 'w.h5');
    writeH5(file, (f) => {
      f.create_attribute('keras_version', '2.15.0');
      f.create_attribute('backend', 'tensorflow');
      writeWeightGroups(f, src);
    });
    await expectQnnError(loadKerasH5(file), 'QNN_E_MODEL', 'weights only', 'loadKerasH5Weights');

    // Fresh model, other auto-generated layer names: matched by position among layers with weights.
    const byOrder = mlp(tf, 22);
    expect(byOrder.layers.map((l) => l.name)).not.toEqual(src.layers.map((l) => l.name));
    await loadKerasH5Weights(byOrder, file);
    expect(Array.from(predict(tf, byOrder))).toEqual(Array.from(predict(tf, src)));

    // A model with the file's layer names (in another order) is matched by name.
    const named = tf.sequential();
    named.add(tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu', name: src.layers[0].name }));
    named.add(tf.layers.dense({ units: 3, activation: 'softmax', name: src.layers[1].name }));
    await loadKerasH5Weights(named, file);
    expect(weightMap(named)).toEqual(weightMap(src));
  });

  test('shape and count mismatches are reported per layer', async () => {
    const src = mlp(tf, 23);
    const file = path.join(tmp.dir, 'w.h5');
    writeH5(file, (f) => writeWeightGroups(f, src));
    const wrong = tf.sequential();
    wrong.add(tf.layers.dense({ inputShape: [6], units: 4, name: src.layers[0].name }));
    wrong.add(tf.layers.dense({ units: 3, name: src.layers[1].name }));
    await expectQnnError(loadKerasH5Weights(wrong, file), 'QNN_E_SHAPE', `layer '${src.layers[0].name}'`, '[6,5]', '[6,4]');
    const noBias = tf.sequential();
    noBias.add(tf.layers.dense({ inputShape: [6], units: 5, useBias: false, name: src.layers[0].name }));
    noBias.add(tf.layers.dense({ units: 3, name: src.layers[1].name }));
    await expectQnnError(loadKerasH5Weights(noBias, file), 'QNN_E_MODEL', 'expects 1 weights, the file has 2');
  });
});

describe('h5 input errors', () => {
  test('missing file, non-HDF5 file', async () => {
    await expectQnnError(loadKerasH5(path.join(tmp.dir, 'none.h5')), 'QNN_E_IO', 'none.h5');
    await expectQnnError(loadModel(path.join(tmp.dir, 'none.h5')), 'QNN_E_IO', 'none.h5');
    const txt = path.join(tmp.dir, 'text.h5');
    fs.writeFileSync(txt, 'this is not hdf5 '.repeat(100));
    await expectQnnError(loadKerasH5(txt), 'QNN_E_MODEL', txt, 'not an HDF5 file');
  });

  test('file without layer_names', async () => {
    const file = path.join(tmp.dir, 'empty.h5');
    writeH5(file, (f) => f.create_attribute('backend', 'tensorflow'));
    await expectQnnError(loadKerasH5Weights(mlp(tf), file), 'QNN_E_MODEL', 'no layer_names');
  });
});
