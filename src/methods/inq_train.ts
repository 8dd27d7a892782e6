/**
 * Incremental Network Quantization with retraining (Zhou et al., ICLR 2017), as Mxbonn/INQ-pytorch
 * runs it (ALGORITHMS.md §6): the kernels of Dense, Conv2D and DepthwiseConv2D layers become powers
 * of two (or zero) a portion at a time, and after each portion is frozen the network retrains with
 * masked SGD so that the still-free weights compensate. Biases, BatchNorm and every other weight
 * stay float and keep training, like the reference's full-precision 'bn'/'bias' group. The
 * per-weight rules live in `inq.ts`; this module is the training schedule.
 */
import type * as tfjs from '@tensorflow/tfjs';

import { stratifiedSample, subset, type Dataset } from '../data';
import { QnnError } from '../errors';
import { checkInt, checkNumber, checkOneOf } from '../engine/validate';
import { cloneModel } from '../quantize/network';
import { getTf } from '../tf/runtime';
import { trainModel, type EpochRecord } from '../train/train';
import { mixSeed } from '../util/rng';
import { allLayers, gradientList, withTrainingBackend, type Gradients } from './finetune';
import { encodeInq, inqExponents, inqPartition, inqQuantize, inqSchedule, type InqStrategy } from './inq';

/** Options of {@link quantizeInq}; the defaults are the reference example's except `epochs` and `batchSize`. */
export interface InqOptions {
  /** Bits per weight (default 5: 17 values {0, ±2^n2, …, ±2^n1} with n2 = n1 − 7). */
  bits?: number;
  /** Accumulated portions frozen at each increment (default [0.5, 0.75, 0.875, 1]; must end at 1). */
  increments?: number[];
  /** 'pruning' (default: largest magnitudes first) or 'random'. */
  strategy?: InqStrategy;
  /** Training epochs after each increment (default 2; the reference trains 4; 0 = one-shot INQ, no retraining). */
  epochs?: number;
  /** Default 128 (the reference uses 256). */
  batchSize?: number;
  /** Learning rate at the start of every increment (default 0.001). */
  learningRate?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** Coupled L2 weight decay on every trained weight, PyTorch style: g + λ·w (default 5e-4). */
  weightDecay?: number;
  /**
   * 0-based epoch index from which the learning rate is ×0.1 within each increment, like
   * MultiStepLR(milestones=[2]) over 4 epochs in the reference. Default max(1, ⌊epochs/2⌋);
   * `epochs` means no decay.
   */
  lrMilestone?: number;
  /** Seeds the batch order, dropout masks and the 'random' partition. */
  seed: number;
  /** Train on a seeded, class-stratified subset of at most this many samples. */
  maxTrain?: number;
  /** No progress output. */
  quiet?: boolean;
  /** Called between increments and before every training step; throw (e.g. QNN_E_ABORTED) to stop. */
  checkAbort?: () => void;
}

/** One quantized kernel of the result. */
export interface InqTensor {
  /** Weight name (`originalName`, e.g. 'dense_1/kernel'). */
  name: string;
  /** Final values: every one 0 or ±2^i with n2 ≤ i ≤ n1. */
  values: Float32Array;
  /** Exponent range, computed once from the pretrained kernel. */
  n1: number;
  n2: number;
  bits: number;
  /** `encodeInq` codes of `values` (0 = zero, else sign bit + n1 − exponent + 1). */
  codes: Uint8Array | Uint16Array;
}

/** One increment of the schedule. */
export interface InqIncrement {
  /** Accumulated portion frozen by this increment. */
  sigma: number;
  /** Share of all quantized weights frozen during this increment's training. */
  frozenFraction: number;
  /**
   * Weights frozen by the previous increment that this one let train again. The reference
   * recomputes the pruning partition from the current magnitudes (§11.18), so a frozen weight whose
   * power of two fell below the new threshold comes free; 0 for 'random', which accumulates.
   */
  unfrozen: number;
  history: EpochRecord[];
  /** Top-1 accuracy on the test set after this increment's training (when a test set is given). */
  testTop1?: number;
}

/** What {@link quantizeInq} returns. */
export interface InqResult {
  /** A quantized copy of the input model. */
  model: tfjs.LayersModel;
  /** The quantized kernels, in model weight order. */
  tensors: InqTensor[];
  increments: InqIncrement[];
  seconds: number;
}

/** Layer classes whose kernel INQ quantizes. */
const INQ_CLASSES = new Set(['Dense', 'Conv2D', 'DepthwiseConv2D']);

/** Seed stream of the 'random' partitions: increment k, tensor t use mixSeed(seed, stream + k·tensors + t),
 * far from the increment indices that seed the batch order. */
const PARTITION_STREAM = 0x1a000000;

/** A kernel being quantized: its variable, exponent range and current mask (1 = free). */
interface Slot {
  name: string;
  variable: tfjs.LayerVariable;
  n1: number;
  n2: number;
  mask?: Uint8Array;
}

/** SGD whose updates are multiplied by per-variable masks (see {@link createMaskedSgd}). */
export interface MaskedSgd extends tfjs.Optimizer {
  /** The learning rate of the next step (settable, for schedules). */
  lr: number;
  /** Sets the mask (1 = update, 0 = frozen) of a variable, replacing any previous one. */
  setMask(variable: tfjs.Variable, mask: Uint8Array): void;
}

/**
 * Mxbonn's `inq.SGD`, a TF.js optimizer for `trainModel`: for each variable, d = g + λ·w;
 * buf = μ·buf + d (buf starts at 0, so the first step gives buf = d, as PyTorch does);
 * w ← w − lr·(buf ⊙ T) with T the variable's mask (all ones when it has none). Frozen weights
 * (T = 0) therefore never move, bit for bit, while their momentum buffers keep accumulating.
 * Buffers live as long as the optimizer; dispose it when done.
 */
export async function createMaskedSgd(opts: { learningRate: number; momentum: number; weightDecay: number }): Promise<MaskedSgd> {
  const tf = await getTf();
  const learningRate = checkNumber('learningRate', opts.learningRate, Number.MIN_VALUE, Number.MAX_VALUE);
  const momentum = checkNumber('momentum', opts.momentum, 0, 1);
  const weightDecay = checkNumber('weightDecay', opts.weightDecay, 0, Number.MAX_VALUE);
  class MaskedSgdOptimizer extends tf.Optimizer implements MaskedSgd {
    static get className(): string {
      return 'QnnMaskedSgd';
    }

    lr = learningRate;
    private readonly masks = new Map<string, tfjs.Tensor>();
    private readonly buffers = new Map<string, tfjs.Variable>();

    setMask(variable: tfjs.Variable, mask: Uint8Array): void {
      this.masks.get(variable.name)?.dispose();
      this.masks.set(variable.name, tf.tensor(Float32Array.from(mask), variable.shape, 'float32'));
    }

    applyGradients(grads: Gradients): void {
      for (const { name, tensor: g } of gradientList(grads)) {
        const w = tf.engine().registeredVariables[name];
        let buf = this.buffers.get(name);
        if (!buf) {
          buf = tf.variable(tf.zerosLike(w), false);
          this.buffers.set(name, buf);
        }
        const b = buf;
        tf.tidy(() => {
          const d = weightDecay > 0 ? g.add(w.mul(weightDecay)) : g;
          const next = b.mul(momentum).add(d);
          const mask = this.masks.get(name);
          b.assign(next);
          w.assign(w.sub((mask ? next.mul(mask) : next).mul(this.lr)));
        });
      }
      this.incrementIterations();
    }

    getConfig(): tfjs.serialization.ConfigDict {
      return { learningRate: this.lr, momentum, weightDecay };
    }

    override dispose(): void {
      tf.dispose([...this.masks.values(), ...this.buffers.values()]);
      super.dispose();
    }
  }
  return new MaskedSgdOptimizer();
}

/** The kernels INQ quantizes (nested models' layers included), with their exponent range from the pretrained values. */
function kernelSlots(model: tfjs.LayersModel, bits: number): Slot[] {
  const slots: Slot[] = [];
  for (const layer of allLayers(model)) {
    if (!INQ_CLASSES.has(layer.getClassName())) continue;
    const variable = layer.weights.find((w) => /kernel$/.test(w.originalName));
    if (!variable) continue;
    const values = variable.read().dataSync() as Float32Array;
    let maxAbs = 0;
    for (const v of values) maxAbs = Math.max(maxAbs, Math.abs(v));
    if (!Number.isFinite(maxAbs)) {
      throw new QnnError('QNN_E_VALUE', `kernel '${variable.originalName}' holds non-finite values`, { hint: 'Check the model file' });
    }
    if (maxAbs === 0) {
      throw new QnnError('QNN_E_VALUE', `kernel '${variable.originalName}' is all zeros, so INQ has no exponent range for it`, {
        hint: 'Remove the layer or give it non-zero weights',
      });
    }
    slots.push({ name: variable.originalName, variable, ...inqExponents(maxAbs, bits) });
  }
  if (slots.length === 0) {
    throw new QnnError('QNN_E_UNSUPPORTED', `model '${model.name}' has no Dense, Conv2D or DepthwiseConv2D kernel for INQ to quantize`);
  }
  return slots;
}

/** Validated options with their defaults. */
function resolveOptions(opts: InqOptions) {
  if (typeof opts !== 'object' || opts === null) throw new QnnError('QNN_E_TYPE', 'INQ options must be an object with at least a seed');
  const epochs = checkInt('epochs', opts.epochs ?? 2, 0);
  return {
    bits: checkInt('bits', opts.bits ?? 5, 2, 16),
    increments: inqSchedule(opts.increments ?? [0.5, 0.75, 0.875, 1]),
    strategy: checkOneOf('strategy', opts.strategy, ['pruning', 'random'] as const, 'pruning'),
    epochs,
    batchSize: checkInt('batchSize', opts.batchSize ?? 128, 1),
    learningRate: opts.learningRate ?? 0.001,
    momentum: opts.momentum ?? 0.9,
    weightDecay: opts.weightDecay ?? 5e-4,
    lrMilestone: checkInt('lrMilestone', opts.lrMilestone ?? Math.min(epochs, Math.max(1, Math.floor(epochs / 2))), 0, epochs),
    seed: checkInt('seed', opts.seed, 0, 0xffffffff),
  };
}

/**
 * INQ with retraining on a copy of `model` (the input is untouched). Per quantized kernel, n1 and
 * n2 come once from the pretrained values ({@link inqExponents}). Then for each accumulated portion
 * sigma of `opts.increments`: the learning rate is reset, every kernel is partitioned with
 * {@link inqPartition} ('pruning': recomputed from the current magnitudes as in the reference;
 * 'random': accumulating), its frozen weights are replaced by their powers of two
 * ({@link inqQuantize}), and the network trains `epochs` epochs with masked SGD (momentum and
 * weight decay as usual, the update multiplied by the mask, so frozen weights never move; the
 * learning rate ×0.1 from epoch `lrMilestone`). The last portion, 1, freezes every kernel, so its
 * epochs train only the float weights. Every final kernel value is 0 or ±2^i, n2 ≤ i ≤ n1
 * (checked). `test`, when given, is evaluated after each increment.
 * Models with depthwise layers train on the cpu backend (see `withTrainingBackend`).
 */
export async function quantizeInq(model: tfjs.LayersModel, train: Dataset, opts: InqOptions, test?: Dataset): Promise<InqResult> {
  const tf = await getTf();
  const o = resolveOptions(opts);
  let data = train;
  if (opts.maxTrain !== undefined) {
    checkInt('maxTrain', opts.maxTrain, 1);
    data = subset(train, stratifiedSample(train.y.subarray(0, train.count), train.numClasses, opts.maxTrain, o.seed));
  }
  const optimizer = await createMaskedSgd(o);
  const t0 = Date.now();
  const copy = await cloneModel(tf, model);
  try {
    const slots = kernelSlots(copy, o.bits);
    const total = slots.reduce((s, k) => s + k.variable.shape.reduce((a: number, b) => a * (b as number), 1), 0);
    const increments: InqIncrement[] = [];
    await withTrainingBackend(copy, async () => {
      for (let k = 0; k < o.increments.length; k++) {
        opts.checkAbort?.();
        const sigma = o.increments[k];
        let frozen = 0;
        let unfrozen = 0;
        slots.forEach((slot, t) => {
          const w = slot.variable.read().dataSync() as Float32Array;
          const prev = o.strategy === 'random' && slot.mask ? { mask: slot.mask, sigma: o.increments[k - 1] } : undefined;
          const mask = inqPartition(w, sigma, o.strategy, mixSeed(o.seed, PARTITION_STREAM + k * slots.length + t), prev);
          for (let i = 0; i < mask.length; i++) {
            if (mask[i] === 0) frozen++;
            else if (slot.mask?.[i] === 0) unfrozen++;
          }
          slot.mask = mask;
          const q = tf.tensor(inqQuantize(w, slot.n1, slot.n2, mask), slot.variable.shape as number[], 'float32');
          slot.variable.write(q);
          q.dispose();
          optimizer.setMask(slot.variable.read() as tfjs.Variable, mask);
        });
        if (o.epochs === 0) {
          increments.push({ sigma, frozenFraction: frozen / total, unfrozen, history: [] });
          continue;
        }
        const rate = (epoch: number) => o.learningRate * (epoch >= o.lrMilestone ? 0.1 : 1);
        optimizer.lr = rate(0);
        const r = await trainModel(copy, { train: data, test }, {
          epochs: o.epochs,
          batchSize: o.batchSize,
          optimizer,
          seed: mixSeed(o.seed, k),
          quiet: opts.quiet,
          // record.epoch is 1-based: the next epoch's 0-based index.
          onEpoch: (record) => (optimizer.lr = rate(record.epoch)),
          checkAbort: opts.checkAbort,
        });
        increments.push({ sigma, frozenFraction: frozen / total, unfrozen, history: r.history, ...(r.test ? { testTop1: r.test.top1 } : {}) });
      }
    });
    const tensors = slots.map((slot): InqTensor => {
      const values = Float32Array.from(slot.variable.read().dataSync() as Float32Array);
      let codes: InqTensor['codes'];
      try {
        codes = encodeInq(values, slot.n1, o.bits).codes;
      } catch (e) {
        throw new QnnError('QNN_E_INTERNAL', `INQ left kernel '${slot.name}' with a value that is not 0 or a power of two in range (${(e as Error).message})`, { cause: e });
      }
      return { name: slot.name, values, n1: slot.n1, n2: slot.n2, bits: o.bits, codes };
    });
    return { model: copy, tensors, increments, seconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    copy.dispose();
    throw e;
  } finally {
    optimizer.dispose();
  }
}
