/**
 * fineTune (the ZZS retraining step, ALGORITHMS.md §4.7): frozen layers keep every weight bit for
 * bit (BatchNorm moving statistics included) while the rest trains, the loss falls, runs are
 * deterministic for a seed, weight decay is the coupled L2 of PyTorch, depthwise models train on
 * the cpu backend, and bad inputs are QnnErrors.
 */
import type * as tfjs from '@tensorflow/tfjs';

import { fineTune, ZZS_RETRAIN } from '../../src/methods/finetune';
import { getTf, type Tf } from '../../src/tf/runtime';
import { buildModel } from '../../src/train/recipes';
import { depthwiseModel, expectQnnError, quadrants } from '../train/helpers';

let tf: Tf;

beforeAll(async () => {
  tf = await getTf();
});

/** Every weight by its manifest name. */
function weights(model: tfjs.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync() as Float32Array)]));
}

/** Flatten → Dense 16 relu → BatchNorm → Dense 4 softmax, seeded. */
function mlpWithBn(seed: number, shape: number[]): tfjs.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: shape, name: 'flatten_1' }),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }), name: 'dense_1' }),
      tf.layers.batchNormalization({ name: 'batch_normalization_1' }),
      tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: 'dense_2' }),
    ],
  });
}

const base = { epochs: 3, batchSize: 32, learningRate: 0.01, weightDecay: 0, seed: 1, quiet: true };

describe('fineTune', () => {
  test('frozen layers keep every weight bit for bit (BatchNorm moving statistics too); the rest trains and the loss falls', async () => {
    const train = quadrants(256, 1);
    const model = mlpWithBn(3, train.shape);
    const before = weights(model);
    const r = await fineTune(model, train, { ...base, frozen: ['dense_1', 'batch_normalization_1'] });
    const after = weights(model);
    for (const name of ['dense_1/kernel', 'dense_1/bias', 'batch_normalization_1/gamma', 'batch_normalization_1/beta', 'batch_normalization_1/moving_mean', 'batch_normalization_1/moving_variance']) {
      expect(after.get(name)).toEqual(before.get(name));
    }
    expect(after.get('dense_2/kernel')).not.toEqual(before.get('dense_2/kernel'));
    expect(after.get('dense_2/bias')).not.toEqual(before.get('dense_2/bias'));
    expect(r.history.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(r.history[2].loss).toBeLessThan(r.history[0].loss);
    expect(r.seconds).toBeGreaterThan(0);
    // The trainable flags are restored.
    expect(model.layers.every((l) => l.trainable)).toBe(true);
  });

  test('an unfrozen BatchNorm layer trains gamma/beta and updates its moving statistics (training mode)', async () => {
    const train = quadrants(128, 2);
    const model = mlpWithBn(4, train.shape);
    const before = weights(model);
    await fineTune(model, train, { ...base, epochs: 1, frozen: ['dense_1', 'dense_2'] });
    const after = weights(model);
    for (const name of ['dense_1/kernel', 'dense_1/bias', 'dense_2/kernel', 'dense_2/bias']) expect(after.get(name)).toEqual(before.get(name));
    for (const name of ['batch_normalization_1/gamma', 'batch_normalization_1/beta', 'batch_normalization_1/moving_mean']) {
      expect(after.get(name)).not.toEqual(before.get(name));
    }
  });

  test('deterministic for a seed; another seed gives other weights', async () => {
    const train = quadrants(96, 3);
    const run = async (seed: number) => {
      const model = mlpWithBn(5, train.shape);
      const r = await fineTune(model, train, { ...base, epochs: 2, seed, frozen: ['dense_2'] });
      return { w: weights(model), loss: r.history.map((e) => e.loss) };
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(b.loss).toEqual(a.loss);
    expect(b.w).toEqual(a.w);
    expect(c.w.get('dense_1/kernel')).not.toEqual(a.w.get('dense_1/kernel'));
  });

  test('weight decay is coupled L2 (g + λ·w) on every trained weight: with a zero gradient, plain SGD shrinks them by lr·λ', async () => {
    // A constant-zero input makes every kernel gradient of dense_1 zero; its bias still learns, so
    // only the kernel isolates the decay term: w ← w − lr·λ·w exactly (up to float32 rounding).
    const train = quadrants(32, 4);
    train.x.fill(0);
    const model = mlpWithBn(6, train.shape);
    const before = weights(model).get('dense_1/kernel') as Float32Array;
    const lr = 0.1;
    const decay = 0.01;
    await fineTune(model, train, { frozen: ['batch_normalization_1', 'dense_2'], epochs: 1, batchSize: 32, optimizer: 'sgd', learningRate: lr, weightDecay: decay, seed: 0, quiet: true });
    const after = weights(model).get('dense_1/kernel') as Float32Array;
    let maxRel = 0;
    for (let i = 0; i < before.length; i++) maxRel = Math.max(maxRel, Math.abs(after[i] - before[i] * (1 - lr * decay)) / Math.abs(before[i]));
    expect(maxRel).toBeLessThan(1e-6);
  });

  test('a model with a DepthwiseConv2D layer trains on the cpu backend for the call; the backend is restored', async () => {
    const train = quadrants(48, 5);
    const model = depthwiseModel(tf, train.shape, 1);
    const backend = tf.getBackend();
    const before = weights(model);
    const r = await fineTune(model, train, { ...base, epochs: 1, frozen: ['dense_1'] });
    const after = weights(model);
    expect(tf.getBackend()).toBe(backend);
    expect(after.get('dense_1/kernel')).toEqual(before.get('dense_1/kernel'));
    expect(after.get('depthwise_conv2d_1/depthwise_kernel')).not.toEqual(before.get('depthwise_conv2d_1/depthwise_kernel'));
    expect(Number.isFinite(r.history[0].loss)).toBe(true);
  });

  test('ZZS_RETRAIN holds the reference settings, and are the defaults', async () => {
    expect(ZZS_RETRAIN).toEqual({ epochs: 1, optimizer: 'adam', learningRate: 1e-4, weightDecay: 1e-6, batchSize: 256, afterLayers: 10 });
    const train = quadrants(300, 6);
    const model = await buildModel('smoke', { inputShape: train.shape, numClasses: 4, seed: 0 });
    const r = await fineTune(model, train, { frozen: ['conv2d_1'], epochs: ZZS_RETRAIN.epochs, seed: 0, maxTrain: 260, quiet: true });
    // batch 256 over 260 samples: one full and one short batch, one epoch.
    expect(r.history).toHaveLength(1);
  });

  test('bad inputs are QnnErrors naming the input', async () => {
    const train = quadrants(16, 7);
    const model = mlpWithBn(7, train.shape);
    await expectQnnError(fineTune(model, train, { ...base, frozen: ['dense_9'] }), 'QNN_E_RANGE', /frozen layer 'dense_9' is not in model .*its layers are: flatten_1, dense_1/);
    await expectQnnError(fineTune(model, train, { ...base, frozen: 'dense_1' as never }), 'QNN_E_TYPE', /`frozen` must be an array/);
    await expectQnnError(fineTune(model, train, { ...base, frozen: ['dense_1', 'batch_normalization_1', 'dense_2'] }), 'QNN_E_VALUE', /no trainable weight outside the frozen layers/);
    await expectQnnError(fineTune(model, train, { ...base, frozen: [], weightDecay: -1 }), 'QNN_E_RANGE', /weightDecay/);
    await expectQnnError(fineTune(model, train, { ...base, frozen: [], epochs: 0 }), 'QNN_E_RANGE', /epochs/);
    await expectQnnError(fineTune(model, train, { ...base, frozen: [], maxTrain: 0 }), 'QNN_E_RANGE', /maxTrain/);
    await expectQnnError(fineTune(model, { ...train, numClasses: 5 }, { ...base, frozen: [] }), 'QNN_E_DATA', /5 classes/);
    // Failures leave the trainable flags as they were.
    expect(model.layers.every((l) => l.trainable)).toBe(true);
  });
});
