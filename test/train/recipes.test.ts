/** Recipes: exact architectures, parameter counts, seeded initialisation, input checks, deviations. */
import type * as tfjs from '@tensorflow/tfjs';

import { buildModel, checkRecipe, deviationsFromPaper } from '../../src/train/recipes';
import { expectQnnError } from './helpers';

/** [name, class, output shape without the batch dimension, parameter count] per layer. */
function layout(model: tfjs.LayersModel): Array<[string, string, number[], number]> {
  return model.layers.map((l) => [l.name, l.getClassName(), (l.outputShape as number[]).slice(1), l.countParams()]);
}

const dense = (nIn: number, nOut: number): number => nIn * nOut + nOut;
const conv3 = (cIn: number, cOut: number): number => 3 * 3 * cIn * cOut + cOut;
/** BatchNormalization keeps gamma, beta, moving mean and moving variance per channel. */
const bn = (c: number): number => 4 * c;

function weightsOf(model: tfjs.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe('mnist-mlp', () => {
  test('is the Lybrand MLP: layers, shapes, initialisers, 549,010 parameters', async () => {
    const m = await buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    expect(layout(m)).toEqual([
      ['flatten_1', 'Flatten', [784], 0],
      ['dense_1', 'Dense', [500], dense(784, 500)],
      ['batch_normalization_1', 'BatchNormalization', [500], bn(500)],
      ['dense_2', 'Dense', [300], dense(500, 300)],
      ['batch_normalization_2', 'BatchNormalization', [300], bn(300)],
      ['dense_3', 'Dense', [10], dense(300, 10)],
    ]);
    const total = dense(784, 500) + bn(500) + dense(500, 300) + bn(300) + dense(300, 10);
    expect(total).toBe(549010);
    expect(m.countParams()).toBe(total);
    const cfg = m.layers.map((l) => l.getConfig());
    // Glorot-uniform serialises as VarianceScaling(scale 1, fanAvg, uniform).
    const glorot = { scale: 1, mode: 'fanAvg', distribution: 'uniform' };
    const denses = cfg.slice(1).filter((_, i) => i % 2 === 0);
    expect(denses.map((c) => [c.activation, c.useBias])).toEqual([['relu', true], ['relu', true], ['softmax', true]]);
    for (const c of denses) expect((c.kernelInitializer as { config: object }).config).toMatchObject(glorot);
    // Keras BatchNormalization defaults.
    expect([cfg[2].momentum, cfg[2].epsilon]).toEqual([0.99, 0.001]);
    expect(m.weights.map((w) => w.originalName).sort()).toEqual([
      'dense_1/kernel', 'dense_1/bias', 'batch_normalization_1/gamma', 'batch_normalization_1/beta',
      'batch_normalization_1/moving_mean', 'batch_normalization_1/moving_variance',
      'dense_2/kernel', 'dense_2/bias', 'batch_normalization_2/gamma', 'batch_normalization_2/beta',
      'batch_normalization_2/moving_mean', 'batch_normalization_2/moving_variance',
      'dense_3/kernel', 'dense_3/bias',
    ].sort());
  });
});

describe('cnn', () => {
  test('28×28×1: the Lybrand CIFAR-10 blocks, 437,610 parameters', async () => {
    const m = await buildModel('cnn', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    expect(layout(m)).toEqual([
      ['conv2d_1', 'Conv2D', [28, 28, 32], conv3(1, 32)],
      ['batch_normalization_1', 'BatchNormalization', [28, 28, 32], bn(32)],
      ['conv2d_2', 'Conv2D', [28, 28, 32], conv3(32, 32)],
      ['batch_normalization_2', 'BatchNormalization', [28, 28, 32], bn(32)],
      ['max_pooling2d_1', 'MaxPooling2D', [14, 14, 32], 0],
      ['dropout_1', 'Dropout', [14, 14, 32], 0],
      ['conv2d_3', 'Conv2D', [14, 14, 64], conv3(32, 64)],
      ['batch_normalization_3', 'BatchNormalization', [14, 14, 64], bn(64)],
      ['conv2d_4', 'Conv2D', [14, 14, 64], conv3(64, 64)],
      ['batch_normalization_4', 'BatchNormalization', [14, 14, 64], bn(64)],
      ['max_pooling2d_2', 'MaxPooling2D', [7, 7, 64], 0],
      ['dropout_2', 'Dropout', [7, 7, 64], 0],
      ['conv2d_5', 'Conv2D', [7, 7, 128], conv3(64, 128)],
      ['batch_normalization_5', 'BatchNormalization', [7, 7, 128], bn(128)],
      ['conv2d_6', 'Conv2D', [7, 7, 128], conv3(128, 128)],
      ['batch_normalization_6', 'BatchNormalization', [7, 7, 128], bn(128)],
      ['max_pooling2d_3', 'MaxPooling2D', [3, 3, 128], 0],
      ['dropout_3', 'Dropout', [3, 3, 128], 0],
      ['flatten_1', 'Flatten', [1152], 0],
      ['dense_1', 'Dense', [128], dense(1152, 128)],
      ['batch_normalization_7', 'BatchNormalization', [128], bn(128)],
      ['dropout_4', 'Dropout', [128], 0],
      ['dense_2', 'Dense', [10], dense(128, 10)],
    ]);
    const convs = conv3(1, 32) + conv3(32, 32) + conv3(32, 64) + conv3(64, 64) + conv3(64, 128) + conv3(128, 128);
    const bns = bn(32) * 2 + bn(64) * 2 + bn(128) * 3;
    expect(m.countParams()).toBe(convs + bns + dense(1152, 128) + dense(128, 10));
    expect(m.countParams()).toBe(437610);
    const cfg = (name: string) => m.getLayer(name).getConfig();
    expect([cfg('conv2d_3').padding, cfg('conv2d_3').activation, (cfg('conv2d_3').kernelInitializer as { className: string }).className]).toEqual([
      'same',
      'relu',
      'VarianceScaling',
    ]);
    expect((cfg('conv2d_3').kernelInitializer as { config: object }).config).toMatchObject({ scale: 2, mode: 'fanIn', distribution: 'uniform' });
    expect((cfg('dense_1').kernelInitializer as { config: object }).config).toMatchObject({ scale: 2, mode: 'fanIn', distribution: 'uniform' });
    expect(['dropout_1', 'dropout_2', 'dropout_3', 'dropout_4'].map((n) => cfg(n).rate)).toEqual([0.2, 0.3, 0.4, 0.5]);
  });

  test('32×32×3 (CIFAR-10) flattens 4·4·128 and 8×8 is the smallest input', async () => {
    const cifar = await buildModel('cnn', { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
    expect(cifar.getLayer('flatten_1').outputShape).toEqual([null, 2048]);
    expect(cifar.getLayer('conv2d_1').countParams()).toBe(conv3(3, 32));
    const tiny = await buildModel('cnn', { inputShape: [8, 8, 2], numClasses: 3, seed: 0 });
    expect(tiny.getLayer('flatten_1').outputShape).toEqual([null, 128]);
    expect(tiny.outputs[0].shape).toEqual([null, 3]);
    await expectQnnError(buildModel('cnn', { inputShape: [7, 8, 1], numClasses: 10, seed: 0 }), 'QNN_E_SHAPE', /H, W ≥ 8/);
    await expectQnnError(buildModel('cnn', { inputShape: [784], numClasses: 10, seed: 0 }), 'QNN_E_SHAPE', /recipe 'cnn'/);
  });
});

describe('smoke', () => {
  test('Conv 4 3×3 ReLU → MaxPool → Flatten → Dense softmax', async () => {
    const m = await buildModel('smoke', { inputShape: [8, 8, 1], numClasses: 4, seed: 0 });
    expect(layout(m)).toEqual([
      ['conv2d_1', 'Conv2D', [6, 6, 4], conv3(1, 4)],
      ['max_pooling2d_1', 'MaxPooling2D', [3, 3, 4], 0],
      ['flatten_1', 'Flatten', [36], 0],
      ['dense_1', 'Dense', [4], dense(36, 4)],
    ]);
  });
});

describe('seeding and validation', () => {
  test('the same seed gives identical weights, another seed different ones; layers get distinct seeds', async () => {
    const a = weightsOf(await buildModel('cnn', { inputShape: [8, 8, 1], numClasses: 4, seed: 7 }));
    const b = weightsOf(await buildModel('cnn', { inputShape: [8, 8, 1], numClasses: 4, seed: 7 }));
    const c = weightsOf(await buildModel('cnn', { inputShape: [8, 8, 1], numClasses: 4, seed: 8 }));
    expect(a.map((w) => Array.from(w))).toEqual(b.map((w) => Array.from(w)));
    expect(Array.from(a[0])).not.toEqual(Array.from(c[0]));
    // Every kernel initialiser carries its own seed.
    const m = await buildModel('cnn', { inputShape: [8, 8, 1], numClasses: 4, seed: 7 });
    const seeds = m.layers
      .map((l) => (l.getConfig().kernelInitializer as { config?: { seed?: number } } | undefined)?.config?.seed)
      .filter((v) => v !== undefined);
    expect(seeds).toHaveLength(8);
    expect(new Set(seeds).size).toBe(8);
  });

  test('bad recipes, class counts and shapes are QnnErrors', async () => {
    expect(() => checkRecipe('resnet')).toThrow(/unknown recipe 'resnet'.*mnist-mlp, cnn, smoke/);
    await expectQnnError(buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 1, seed: 0 }), 'QNN_E_VALUE', /numClasses/);
    await expectQnnError(buildModel('mnist-mlp', { inputShape: [0, 28], numClasses: 10, seed: 0 }), 'QNN_E_SHAPE');
    await expectQnnError(buildModel('smoke', { inputShape: [3, 3, 1], numClasses: 2, seed: 0 }), 'QNN_E_SHAPE', /H, W ≥ 4/);
  });
});

describe('deviationsFromPaper', () => {
  const base = { preprocess: 'raw' as const, epochs: 100, batchSize: 128, optimizer: 'adam' as const, learningRate: 0.001, validationFraction: 0.2, trainCount: 6400 };

  test('mnist-mlp with the paper settings differs only in the data', () => {
    expect(deviationsFromPaper('mnist-mlp', { ...base, data: 'mnist' })).toEqual([
      'data: mnist (6400 training images) instead of Keras MNIST, 60,000 train / 10,000 test images',
    ]);
  });

  test('every changed setting is listed; the cnn always notes the missing augmentation', () => {
    const run = { ...base, data: 'cifar10:/d', preprocess: 'unit' as const, epochs: 400, batchSize: 64, optimizer: 'sgd-momentum' as const, validationFraction: 0, trainCount: 50000 };
    expect(deviationsFromPaper('cnn', run)).toEqual(['no data augmentation (the paper used width/height shift 0.1 and horizontal flip)']);
    expect(deviationsFromPaper('cnn', { ...run, data: 'fashion-mnist', epochs: 3, optimizer: 'adam', validationFraction: 0.1 })).toEqual([
      'data: fashion-mnist (50000 training images) instead of CIFAR-10, 50,000 train / 10,000 test images (32x32x3)',
      '3 epochs instead of 400',
      'optimizer adam lr 0.001 instead of sgd-momentum lr 0.001',
      'validation fraction 0.1 instead of 0',
      'no data augmentation (the paper used width/height shift 0.1 and horizontal flip)',
    ]);
    expect(deviationsFromPaper('smoke', { ...base, data: 'mnist' })).toEqual([]);
  });
});
