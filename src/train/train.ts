/**
 * A small, deterministic training loop over in-memory datasets: seeded shuffle per epoch, seeded
 * dropout masks per step, categorical cross-entropy, a progress bar per epoch, and a final test
 * evaluation. On the wasm backend two runs with the same seed give identical weights.
 */
import type * as tfjs from '@tensorflow/tfjs';

import type { Dataset } from '../data';
import { QnnError } from '../errors';
import { checkModelMatches, evaluate, type EvaluateResult } from '../eval/evaluate';
import { getTf } from '../tf/runtime';
import { createProgress } from '../util/progress';
import { mixSeed, permutation, Rng32 } from '../util/rng';
import { Augmentation, augmentBatch, checkAugmentation } from './augment';
import type { OptimizerName } from './recipes';

/** Options of {@link trainModel}. */
export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /**
   * Default 'adam'. An optimizer instance is used as it is (`learningRate` is then ignored) and
   * stays the caller's to dispose; its state (e.g. momentum buffers) carries over between calls.
   */
  optimizer?: OptimizerName | tfjs.Optimizer;
  /** Default 0.001. */
  learningRate?: number;
  /** Seeds the shuffle of every epoch and the dropout masks of every step. */
  seed: number;
  /**
   * Fraction of the training split held out for validation (default 0): like Keras'
   * validation_split, the last samples of the split, taken before any shuffling.
   */
  validationFraction?: number;
  /** Called after every epoch. */
  onEpoch?: (record: EpochRecord) => void;
  /** Called before every training step; throw (e.g. QNN_E_ABORTED) to stop. */
  checkAbort?: () => void;
  /** Seeded per-step augmentation of image samples (shifts, flips). */
  augment?: Augmentation;
  /** No progress output. */
  quiet?: boolean;
}

/** One epoch of training history. */
export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  /** Mean training loss over the epoch's batches (weighted by batch size; dropout active). */
  loss: number;
  /** Mean training accuracy over the epoch's batches. */
  accuracy: number;
  /** Top-1 accuracy on the validation samples (when validationFraction > 0). */
  valAccuracy?: number;
  seconds: number;
}

/** What {@link trainModel} returns. */
export interface TrainResult {
  history: EpochRecord[];
  /** Accuracy on the test split after the last epoch (undefined without a test split). */
  test?: EvaluateResult;
  trainCount: number;
  validationCount: number;
  /** Training time (all epochs, without the final test evaluation). */
  trainSeconds: number;
}

/**
 * Builds a TF.js optimizer. 'adam' uses the Keras defaults (β1 0.9, β2 0.999, ε 1e-7);
 * 'sgd-momentum' uses momentum 0.9 (the Lybrand CIFAR-10 setting).
 */
export async function makeOptimizer(name: OptimizerName, learningRate: number): Promise<tfjs.Optimizer> {
  const tf = await getTf();
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) {
    throw new QnnError('QNN_E_RANGE', `learning rate must be a positive number (got ${learningRate})`);
  }
  switch (name) {
    case 'adam':
      return tf.train.adam(learningRate, 0.9, 0.999, 1e-7);
    case 'sgd-momentum':
      return tf.train.momentum(learningRate, 0.9);
    case 'sgd':
      return tf.train.sgd(learningRate);
    default:
      throw new QnnError('QNN_E_VALUE', `unknown optimizer '${String(name)}'`, { hint: 'use adam, sgd-momentum or sgd' });
  }
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new QnnError('QNN_E_RANGE', `${name} must be a positive integer (got ${v})`);
}

/**
 * Trains `model` (compiling it with the chosen optimizer and categorical cross-entropy) on
 * `splits.train`, then evaluates `splits.test` when given. Batches are drawn in a seeded
 * order each epoch (the last, smaller batch is kept, as Keras does); every Dropout layer gets a
 * seed derived from (seed, step) for each step, so runs are reproducible, and its configured seed
 * is restored afterwards. Stops with QNN_E_VALUE when a weight stops being finite.
 */
export async function trainModel(
  model: tfjs.LayersModel,
  splits: { train: Dataset; test?: Dataset },
  opts: TrainOptions,
): Promise<TrainResult> {
  const tf = await getTf();
  const { train, test } = splits;
  checkPositiveInt('epochs', opts.epochs);
  checkPositiveInt('batch size', opts.batchSize);
  const valFraction = opts.validationFraction ?? 0;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new QnnError('QNN_E_RANGE', `validation fraction must be in [0, 1) (got ${valFraction})`);
  }
  if (opts.augment) checkAugmentation(opts.augment);
  checkModelMatches(model, train, 'training split');
  if (test) checkModelMatches(model, test, 'test split');
  const k = train.numClasses;
  const badLabel = train.y.subarray(0, train.count).findIndex((v) => !(v >= 0 && v < k));
  if (badLabel >= 0) throw new QnnError('QNN_E_DATA', `label ${train.y[badLabel]} of training sample ${badLabel} is outside [0, ${k})`);
  const sampleSize = train.shape.reduce((a, b) => a * b, 1);
  const valCount = Math.floor(train.count * valFraction);
  const fitCount = train.count - valCount;
  if (fitCount < 1) throw new QnnError('QNN_E_DATA', `no training samples left (count ${train.count}, validation fraction ${valFraction})`);
  const validation: Dataset | undefined =
    valCount > 0
      ? { ...train, x: train.x.subarray(fitCount * sampleSize), y: train.y.subarray(fitCount), count: valCount }
      : undefined;

  const optimizer = opts.optimizer ?? 'adam';
  model.compile({
    optimizer: typeof optimizer === 'string' ? await makeOptimizer(optimizer, opts.learningRate ?? 0.001) : optimizer,
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });

  const dropouts = model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as Array<{ seed?: number }>;
  const savedSeeds = dropouts.map((d) => d.seed);
  const steps = Math.ceil(fitCount / opts.batchSize);
  const history: EpochRecord[] = [];
  const t0 = Date.now();
  let step = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const te = Date.now();
      const order = permutation(fitCount, mixSeed(opts.seed, epoch));
      const progress = createProgress({ label: `epoch ${epoch}/${opts.epochs}`, total: steps, unit: 'batches', quiet: opts.quiet });
      let lossSum = 0;
      let accSum = 0;
      for (let s = 0; s < steps; s++) {
        opts.checkAbort?.();
        const start = s * opts.batchSize;
        const b = Math.min(opts.batchSize, fitCount - start);
        const xb = new Float32Array(b * sampleSize);
        const yb = new Float32Array(b * k);
        for (let i = 0; i < b; i++) {
          const idx = order[start + i];
          xb.set(train.x.subarray(idx * sampleSize, (idx + 1) * sampleSize), i * sampleSize);
          yb[i * k + train.y[idx]] = 1;
        }
        const stepSeed = mixSeed(opts.seed ^ 0x5eed, step++);
        if (opts.augment) augmentBatch(xb, b, train.shape, opts.augment, new Rng32(mixSeed(stepSeed, 0xa06)));
        dropouts.forEach((d, j) => (d.seed = mixSeed(stepSeed, j)));
        const xt = tf.tensor(xb, [b, ...train.shape]);
        const yt = tf.tensor2d(yb, [b, k]);
        let out: number | number[];
        try {
          out = await model.trainOnBatch(xt, yt);
        } finally {
          xt.dispose();
          yt.dispose();
        }
        const [loss, acc] = out as number[];
        lossSum += loss * b;
        accSum += acc * b;
        progress.tick(1, `loss ${(lossSum / (start + b)).toFixed(4)} acc ${(accSum / (start + b)).toFixed(4)}`);
      }
      const bad = model.weights.find((w) => !(w.read().dataSync() as Float32Array).every(Number.isFinite));
      if (bad) {
        throw new QnnError('QNN_E_VALUE', `training diverged: weight '${bad.originalName}' is not finite after epoch ${epoch}`, {
          hint: 'lower the learning rate (--lr) or check the input data for NaN / Inf values',
        });
      }
      const record: EpochRecord = { epoch, loss: lossSum / fitCount, accuracy: accSum / fitCount, seconds: 0 };
      if (validation) record.valAccuracy = (await evaluate(model, validation, { quiet: true })).top1;
      record.seconds = (Date.now() - te) / 1000;
      progress.done(
        `loss ${record.loss.toFixed(4)} acc ${record.accuracy.toFixed(4)}` +
          (record.valAccuracy !== undefined ? ` val_acc ${record.valAccuracy.toFixed(4)}` : ''),
      );
      history.push(record);
      opts.onEpoch?.(record);
    }
  } finally {
    dropouts.forEach((d, j) => (d.seed = savedSeeds[j]));
  }
  const trainSeconds = (Date.now() - t0) / 1000;
  const testResult = test ? await evaluate(model, test, { quiet: opts.quiet }) : undefined;
  return { history, test: testResult, trainCount: fitCount, validationCount: valCount, trainSeconds };
}
