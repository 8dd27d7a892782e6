/** trainModel: learning, determinism, validation hold-out, history, and errors. */
import type * as tfjs from '@tensorflow/tfjs';

import { evaluate } from '../../src/eval/evaluate';
import { getTf } from '../../src/tf/runtime';
import { buildModel } from '../../src/train/recipes';
import { makeOptimizer, trainModel, type EpochRecord } from '../../src/train/train';
import { expectQnnError, quadrants } from './helpers';

function weightsOf(model: tfjs.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

describe('trainModel', () => {
  test('the smoke CNN learns a separable 4-class problem in a few epochs', async () => {
    const train = quadrants(256, 1);
    const test = quadrants(200, 2);
    const model = await buildModel('smoke', { inputShape: train.shape, numClasses: 4, seed: 0 });
    const seen: EpochRecord[] = [];
    const r = await trainModel(model, { train, test }, { epochs: 4, batchSize: 32, learningRate: 0.01, seed: 0, quiet: true, onEpoch: (e) => seen.push(e) });
    expect(r.history.map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
    expect(seen).toEqual(r.history);
    expect(r.trainCount).toBe(256);
    expect(r.validationCount).toBe(0);
    expect(r.history[3].loss).toBeLessThan(r.history[0].loss);
    expect(r.test?.count).toBe(200);
    expect(r.test?.top1).toBeGreaterThanOrEqual(0.95);
    // 4 classes: top-5 is top-4, always right.
    expect(r.test?.top5).toBe(1);
  });

  test('deterministic for a seed (the cnn recipe, with dropout and BatchNorm); another seed differs', async () => {
    const train = quadrants(48, 3);
    const run = async (seed: number) => {
      const model = await buildModel('cnn', { inputShape: train.shape, numClasses: 4, seed: 5 });
      const r = await trainModel(model, { train }, { epochs: 2, batchSize: 16, seed, quiet: true });
      return { weights: weightsOf(model), loss: r.history.map((e) => e.loss), model };
    };
    const a = await run(11);
    const b = await run(11);
    const c = await run(12);
    expect(b.loss).toEqual(a.loss);
    expect(b.weights).toEqual(a.weights);
    // Only the batch order and dropout masks depend on the training seed here.
    expect(c.weights).not.toEqual(a.weights);
    // The per-step dropout seeds are removed again: the saved config is the built one.
    expect(a.model.getLayer('dropout_1').getConfig().seed).toBeUndefined();
  });

  test('validationFraction holds out the last samples and reports their accuracy per epoch', async () => {
    const train = quadrants(100, 4);
    const model = await buildModel('smoke', { inputShape: train.shape, numClasses: 4, seed: 0 });
    const r = await trainModel(model, { train }, { epochs: 2, batchSize: 25, seed: 0, learningRate: 0.01, validationFraction: 0.2, quiet: true });
    expect([r.trainCount, r.validationCount]).toEqual([80, 20]);
    const heldOut = { ...train, x: train.x.slice(80 * 64), y: train.y.slice(80), count: 20 };
    expect(r.history[1].valAccuracy).toBe((await evaluate(model, heldOut, { quiet: true })).top1);
    expect(r.history.every((e) => e.valAccuracy !== undefined && e.seconds > 0)).toBe(true);
    expect(r.test).toBeUndefined();
  });

  test('bad options and mismatched data are QnnErrors', async () => {
    const train = quadrants(8, 5);
    const model = await buildModel('smoke', { inputShape: train.shape, numClasses: 4, seed: 0 });
    const base = { epochs: 1, batchSize: 4, seed: 0, quiet: true };
    await expectQnnError(trainModel(model, { train }, { ...base, epochs: 0 }), 'QNN_E_RANGE', /epochs/);
    await expectQnnError(trainModel(model, { train }, { ...base, batchSize: 2.5 }), 'QNN_E_RANGE', /batch size/);
    await expectQnnError(trainModel(model, { train }, { ...base, validationFraction: 1 }), 'QNN_E_RANGE', /validation fraction/);
    await expectQnnError(trainModel(model, { train }, { ...base, learningRate: -1 }), 'QNN_E_RANGE', /learning rate/);
    await expectQnnError(trainModel(model, { train: quadrants(8, 5, 10, 10) }, base), 'QNN_E_DATA', /shape \[10, 10, 1\].*expects \[8, 8, 1\]/);
    await expectQnnError(trainModel(model, { train: { ...train, numClasses: 5 } }, base), 'QNN_E_DATA', /5 classes/);
    await expectQnnError(trainModel(model, { train: { ...train, y: train.y.map((v, i) => (i === 3 ? 4 : v)) } }, base), 'QNN_E_DATA', /label 4 of training sample 3 is outside \[0, 4\)/);
    await expectQnnError(makeOptimizer('rmsprop' as never, 0.1), 'QNN_E_VALUE', /unknown optimizer/);
  });

  test('a diverging run stops with a clear error', async () => {
    const tf = await getTf();
    const train = quadrants(16, 6);
    train.x[0] = Number.NaN;
    // Linear softmax: the NaN reaches the loss (no ReLU to swallow it).
    const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: train.shape }), tf.layers.dense({ units: 4, activation: 'softmax' })] });
    await expectQnnError(trainModel(model, { train }, { epochs: 1, batchSize: 16, seed: 0, quiet: true }), 'QNN_E_VALUE', /diverged: weight 'dense_\w+\/kernel' is not finite after epoch 1/);
  });
});
