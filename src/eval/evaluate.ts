/**
 * Batched inference and top-k accuracy for classification models (analog and quantized alike).
 */
import type * as tfjs from '@tensorflow/tfjs';

import type { Dataset } from '../data';
import { QnnError } from '../errors';
import { getTf } from '../tf/runtime';
import { createProgress } from '../util/progress';

/** Default inference batch size: large enough to amortise per-call overhead on wasm. */
export const DEFAULT_EVAL_BATCH = 500;

/** Options of {@link predict}. */
export interface PredictOptions {
  /** Samples per model call (default {@link DEFAULT_EVAL_BATCH}). */
  batchSize?: number;
  /** Show a progress bar (default false). */
  progress?: boolean;
  /** Progress label (default 'predict'). */
  label?: string;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Samples per model call (default {@link DEFAULT_EVAL_BATCH}). */
  batchSize?: number;
  /** No progress output. */
  quiet?: boolean;
}

/** Accuracy of a model on a dataset. */
export interface EvaluateResult {
  /** Fraction of samples whose label is the top prediction. */
  top1: number;
  /** Fraction whose label is among the min(5, numClasses) top predictions. */
  top5: number;
  count: number;
  /** Inference time. */
  seconds: number;
}

/** Why `model` cannot take samples of per-sample `shape`, or undefined when it can. */
function inputMismatch(model: tfjs.LayersModel, shape: number[]): string | undefined {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    return `model '${model.name}' has ${model.inputs.length} inputs and ${model.outputs.length} outputs; only single-input, single-output models are supported`;
  }
  const inShape = model.inputs[0].shape.slice(1);
  const fits = inShape.length === shape.length && inShape.every((d, i) => d === null || d === shape[i]);
  return fits ? undefined : `the samples have shape [${shape.join(', ')}] but model '${model.name}' expects [${inShape.map((d) => d ?? '?').join(', ')}]`;
}

/**
 * Throws QNN_E_DATA unless `model` (single input, single output) takes samples of `data.shape`
 * and outputs one score per class of `data`; `what` names the data in the message.
 */
export function checkModelMatches(model: tfjs.LayersModel, data: Pick<Dataset, 'shape' | 'numClasses'>, what: string): void {
  const mismatch = inputMismatch(model, data.shape);
  if (mismatch) throw new QnnError('QNN_E_DATA', `${what}: ${mismatch}`, { hint: 'use the dataset the model was built for' });
  const outShape = model.outputs[0].shape.slice(1);
  if (outShape.length !== 1 || outShape[0] !== data.numClasses) {
    throw new QnnError('QNN_E_DATA', `${what}: model '${model.name}' outputs [${outShape.map((d) => d ?? '?').join(', ')}] scores but the data has ${data.numClasses} classes`, {
      hint: 'use the dataset the model was built for',
    });
  }
}

/**
 * Runs `model` on `count = x.length / prod(shape)` samples of per-sample `shape` (NHWC rows) in
 * batches and returns the outputs, count × outputs values row-major. Every tensor is disposed.
 * Throws QNN_E_SHAPE when the data does not fit the model's input.
 */
export async function predict(model: tfjs.LayersModel, x: Float32Array, shape: number[], opts: PredictOptions = {}): Promise<Float32Array> {
  const tf = await getTf();
  const batchSize = opts.batchSize ?? DEFAULT_EVAL_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new QnnError('QNN_E_RANGE', `batch size must be a positive integer (got ${batchSize})`);
  }
  const mismatch = inputMismatch(model, shape);
  if (mismatch) throw new QnnError('QNN_E_SHAPE', mismatch, { hint: 'use a dataset matching the model input' });
  const sampleSize = shape.reduce((a, b) => a * b, 1);
  if (sampleSize === 0 || x.length % sampleSize !== 0) {
    throw new QnnError('QNN_E_SHAPE', `${x.length} values are not a whole number of samples of shape [${shape.join(', ')}]`);
  }
  const count = x.length / sampleSize;
  const outShape = model.outputs[0].shape.slice(1);
  if (outShape.some((d) => d === null)) {
    throw new QnnError('QNN_E_UNSUPPORTED', `model '${model.name}' has an output of unknown size [${outShape.map((d) => d ?? '?').join(', ')}]`);
  }
  const outSize = (outShape as number[]).reduce((a, b) => a * b, 1);
  const out = new Float32Array(count * outSize);
  const progress = createProgress({ label: opts.label ?? 'predict', total: count, unit: 'samples', quiet: !opts.progress });
  for (let start = 0; start < count; start += batchSize) {
    const b = Math.min(batchSize, count - start);
    const values = tf.tidy(() => {
      const xt = tf.tensor(x.subarray(start * sampleSize, (start + b) * sampleSize), [b, ...shape]);
      return (model.predict(xt) as tfjs.Tensor).dataSync();
    });
    out.set(values, start * outSize);
    progress.tick(b);
  }
  progress.done();
  return out;
}

/**
 * Fraction of rows of `probs` (count × numClasses) whose label `y[i]` ranks among the top `k`.
 * Ranking is a stable descending sort: an entry outranks the label's when it is larger, or equal
 * and at a lower index (so k = 1 agrees with argmax, and a constant output row scores only for
 * label 0). A NaN score for the label never counts.
 */
export function topK(probs: Float32Array, y: Int32Array, numClasses: number, k: number): number {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new QnnError('QNN_E_RANGE', `numClasses must be a positive integer (got ${numClasses})`);
  if (!Number.isInteger(k) || k < 1) throw new QnnError('QNN_E_RANGE', `k must be a positive integer (got ${k})`);
  if (probs.length !== y.length * numClasses) {
    throw new QnnError('QNN_E_SHAPE', `predictions have ${probs.length} values, expected ${y.length} labels × ${numClasses} classes`);
  }
  if (y.length === 0) throw new QnnError('QNN_E_EMPTY', 'no samples to score');
  let hits = 0;
  for (let i = 0; i < y.length; i++) {
    const label = y[i];
    if (!(label >= 0 && label < numClasses)) throw new QnnError('QNN_E_DATA', `label ${label} of sample ${i} is outside [0, ${numClasses})`);
    const row = i * numClasses;
    const p = probs[row + label];
    if (Number.isNaN(p)) continue;
    let rank = 0;
    for (let j = 0; j < numClasses && rank < k; j++) {
      const q = probs[row + j];
      if (q > p || (q === p && j < label)) rank++;
    }
    if (rank < k) hits++;
  }
  return hits / y.length;
}

/** An accuracy fraction as a percentage with two decimals, e.g. `97.85%`. */
export function percent(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}

/**
 * Top-1 and top-5 accuracy of `model` on `dataset`, with a progress bar unless quiet. Throws
 * QNN_E_DATA when the model's output size differs from the dataset's class count.
 */
export async function evaluate(model: tfjs.LayersModel, dataset: Dataset, opts: EvaluateOptions = {}): Promise<EvaluateResult> {
  checkModelMatches(model, dataset, 'evaluate');
  const t0 = Date.now();
  const probs = await predict(model, dataset.x.subarray(0, dataset.count * dataset.shape.reduce((a, b) => a * b, 1)), dataset.shape, {
    batchSize: opts.batchSize,
    progress: !opts.quiet,
    label: 'evaluate',
  });
  const seconds = (Date.now() - t0) / 1000;
  const y = dataset.y.subarray(0, dataset.count);
  return {
    top1: topK(probs, y, dataset.numClasses, 1),
    top5: topK(probs, y, dataset.numClasses, Math.min(5, dataset.numClasses)),
    count: dataset.count,
    seconds,
  };
}
