/**
 * Fine-tuning with frozen layers: the "retraining after each quantized layer" step of the ZZS
 * retraining variant (ALGORITHMS.md §4.7). The named layers keep every weight bit for bit; every
 * other trainable weight (kernels, biases, BatchNorm gamma/beta) trains with BatchNorm in training
 * mode, on top of the seeded training loop of `trainModel`.
 */
import type * as tfjs from '@tensorflow/tfjs';

import { stratifiedSample, subset, type Dataset } from '../data';
import { QnnError } from '../errors';
import { checkInt, checkNumber } from '../engine/validate';
import { getTf, type Tf } from '../tf/runtime';
import type { OptimizerName } from '../train/recipes';
import { makeOptimizer, trainModel, type EpochRecord } from '../train/train';

/**
 * The ZZS fine-tuning settings (ALGORITHMS.md §4.7): one epoch of Adam, lr 1e-4, weight decay
 * 1e-6, batch 256, and only once more than `afterLayers` = 10 layers are quantized. `afterLayers`
 * is the caller's rule: fine-tune after quantizing layer number k (1-based) when k > afterLayers.
 */
export const ZZS_RETRAIN = Object.freeze({
  epochs: 1,
  optimizer: 'adam' as OptimizerName,
  learningRate: 1e-4,
  weightDecay: 1e-6,
  batchSize: 256,
  afterLayers: 10,
});

/** Options of {@link fineTune}. */
export interface FineTuneOptions {
  /** Names of layers (`model.layers[i].name`) whose weights must not change at all. */
  frozen: string[];
  epochs: number;
  /** Default 256 ({@link ZZS_RETRAIN}). */
  batchSize?: number;
  /** Default 'adam' (Keras defaults β1 0.9, β2 0.999, ε 1e-7). */
  optimizer?: OptimizerName;
  /** Default 1e-4. */
  learningRate?: number;
  /**
   * Coupled L2 weight decay λ, as PyTorch's `weight_decay` (default 1e-6): before the optimizer
   * sees them, the gradient g of every weight that trains (kernels, biases, BatchNorm gamma and
   * beta alike, as in the reference's optimizer over all still-trainable parameters) becomes
   * g + λ·w. Frozen and non-trainable weights (BatchNorm moving statistics) are never decayed.
   * 0 turns it off.
   */
  weightDecay?: number;
  /** Seeds the batch order of every epoch (and dropout masks, as in `trainModel`). */
  seed: number;
  /** Train on a seeded, class-stratified subset of at most this many samples. */
  maxTrain?: number;
  /** No progress output. */
  quiet?: boolean;
  /** Called before every training step; throw (e.g. QNN_E_ABORTED) to stop. */
  checkAbort?: () => void;
}

/** What {@link fineTune} returns. */
export interface FineTuneResult {
  history: EpochRecord[];
  /** Training time. */
  seconds: number;
}

/** What an optimizer's `applyGradients` receives: a name → gradient map or a list of named gradients. */
export type Gradients = Parameters<tfjs.Optimizer['applyGradients']>[0];

/** {@link Gradients} as a list of (variable name, gradient) pairs, in their order. */
export function gradientList(grads: Gradients): { name: string; tensor: tfjs.Tensor }[] {
  return Array.isArray(grads) ? grads : Object.keys(grads).map((name) => ({ name, tensor: grads[name] }));
}

/** Layer classes whose gradients need the depthwise-convolution backprop kernels. */
const DEPTHWISE_CLASSES = new Set(['DepthwiseConv2D', 'SeparableConv2D']);

/** Every layer of `model` in `model.layers` order, each nested model followed by its own layers. */
export function allLayers(model: tfjs.LayersModel): tfjs.layers.Layer[] {
  return model.layers.flatMap((l) => {
    const nested = (l as unknown as { layers?: tfjs.layers.Layer[] }).layers;
    return Array.isArray(nested) ? [l, ...allLayers(l as unknown as tfjs.LayersModel)] : [l];
  });
}

/**
 * Runs `fn` (which trains `model`) on a backend that can compute its gradients. The wasm backend
 * has no DepthwiseConv2dNativeBackpropFilter/Input kernels, so for a model with DepthwiseConv2D or
 * SeparableConv2D layers the `cpu` backend is made active for the call (ENVIRONMENT.md §1.2:
 * switching backends is safe, tensors move lazily) and wasm is restored afterwards, also on
 * failure. The cpu backend is several times slower; every other model trains where it is.
 * Meanwhile the whole process runs on cpu.
 */
export async function withTrainingBackend<T>(model: tfjs.LayersModel, fn: () => Promise<T>): Promise<T> {
  const tf = await getTf();
  const current = tf.getBackend();
  if (current !== 'wasm' || !allLayers(model).some((l) => DEPTHWISE_CLASSES.has(l.getClassName()))) return fn();
  if (!(await tf.setBackend('cpu'))) {
    throw new QnnError('QNN_E_UNSUPPORTED', `model '${model.name}' has depthwise layers, which cannot be trained on the wasm backend, and the cpu backend failed to start`, {
      hint: 'Install @tensorflow/tfjs-node, whose backend has the depthwise gradients',
    });
  }
  try {
    return await fn();
  } finally {
    await tf.setBackend(current);
  }
}

/**
 * An optimizer that adds λ·w to the gradient of every variable it updates, then hands the
 * gradients to `inner` (PyTorch's coupled `weight_decay`). Disposing it disposes `inner`.
 */
function withWeightDecay(tf: Tf, inner: tfjs.Optimizer, weightDecay: number): tfjs.Optimizer {
  class WeightDecayOptimizer extends tf.Optimizer {
    static get className(): string {
      return 'QnnWeightDecay';
    }

    applyGradients(grads: Gradients): void {
      const decayed = tf.tidy(() =>
        Object.fromEntries(gradientList(grads).map(({ name, tensor }) => [name, tensor.add(tf.engine().registeredVariables[name].mul(weightDecay))])),
      );
      try {
        inner.applyGradients(decayed);
      } finally {
        tf.dispose(Object.values(decayed));
      }
    }

    getConfig(): tfjs.serialization.ConfigDict {
      return { weightDecay, inner: inner.getClassName() };
    }

    override dispose(): void {
      inner.dispose();
      super.dispose();
    }
  }
  return new WeightDecayOptimizer();
}

/**
 * Trains `model` in place for `opts.epochs` epochs on `train` (categorical cross-entropy, seeded
 * batch order, BatchNorm in training mode as in ZZS) while the layers named in `opts.frozen` keep
 * all their weights bit for bit: they are made non-trainable for the call, and the moving
 * statistics of a frozen BatchNorm layer (which training mode still updates) are put back
 * afterwards. Every other trainable weight trains, with the weight decay of
 * {@link FineTuneOptions.weightDecay}; the layers' `trainable` flags are restored on return.
 * Models with depthwise layers train on the cpu backend ({@link withTrainingBackend}).
 * Unknown layer names are QNN_E_RANGE; a model with nothing left to train is QNN_E_VALUE.
 */
export async function fineTune(model: tfjs.LayersModel, train: Dataset, opts: FineTuneOptions): Promise<FineTuneResult> {
  const tf = await getTf();
  if (!Array.isArray(opts.frozen) || !opts.frozen.every((n) => typeof n === 'string')) {
    throw new QnnError('QNN_E_TYPE', '`frozen` must be an array of layer names (an empty array freezes nothing)');
  }
  const layers = new Map(model.layers.map((l) => [l.name, l]));
  const unknown = opts.frozen.filter((n) => !layers.has(n));
  if (unknown.length) {
    throw new QnnError('QNN_E_RANGE', `frozen layer${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not in model '${model.name}'`, {
      hint: `its layers are: ${[...layers.keys()].join(', ')}`,
    });
  }
  const weightDecay = checkNumber('weightDecay', opts.weightDecay ?? ZZS_RETRAIN.weightDecay, 0, Number.MAX_VALUE);
  let data = train;
  if (opts.maxTrain !== undefined) {
    checkInt('maxTrain', opts.maxTrain, 1);
    data = subset(train, stratifiedSample(train.y.subarray(0, train.count), train.numClasses, opts.maxTrain, opts.seed));
  }
  const frozen = opts.frozen.map((n) => layers.get(n) as tfjs.layers.Layer);
  const savedFlags = frozen.map((l) => l.trainable);
  // Weights that training mode changes without gradients (BatchNorm moving statistics).
  const stateful = frozen.flatMap((l) => l.nonTrainableWeights.map((w) => ({ w, saved: tf.clone(w.read()) })));
  let optimizer: tfjs.Optimizer | undefined;
  try {
    frozen.forEach((l) => (l.trainable = false));
    if (model.trainableWeights.length === 0) {
      throw new QnnError('QNN_E_VALUE', `model '${model.name}' has no trainable weight outside the frozen layers`, {
        hint: 'Freeze fewer layers, or skip fine-tuning',
      });
    }
    const inner = await makeOptimizer(opts.optimizer ?? ZZS_RETRAIN.optimizer, opts.learningRate ?? ZZS_RETRAIN.learningRate);
    optimizer = weightDecay > 0 ? withWeightDecay(tf, inner, weightDecay) : inner;
    const t0 = Date.now();
    const used = optimizer;
    const r = await withTrainingBackend(model, () =>
      trainModel(model, { train: data }, {
        epochs: opts.epochs,
        batchSize: opts.batchSize ?? ZZS_RETRAIN.batchSize,
        optimizer: used,
        seed: opts.seed,
        quiet: opts.quiet,
        checkAbort: opts.checkAbort,
      }),
    );
    return { history: r.history, seconds: (Date.now() - t0) / 1000 };
  } finally {
    frozen.forEach((l, i) => (l.trainable = savedFlags[i]));
    for (const { w, saved } of stateful) {
      w.write(saved);
      saved.dispose();
    }
    optimizer?.dispose();
  }
}
