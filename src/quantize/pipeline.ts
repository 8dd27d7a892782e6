/**
 * Layer-by-layer quantization of a network (ALGORITHMS.md 3.2 and 4.2). For each quantized layer,
 * in topological order: stream calibration batches through the analog network and through the
 * partially quantized copy, capture the layer's inputs X and X~, feed the engine (the direct form
 * for small dense layers, the streaming Gram form otherwise; conv patches are built per batch and
 * never kept for the whole layer), quantize, and write the result into the copy before moving on.
 * An MSQ copy with the same per-layer alphabets is built alongside as the baseline.
 */
import type * as tfjs from '@tensorflow/tfjs';

import { Dataset, stratifiedSample, subset } from '../data';
import { QnnError } from '../errors';
import { alphabetGrid, AlphabetGrid, l0Alphabet, msq } from '../engine/alphabet';
import { convLayout, ConvLayerSpec, convOutputMeans, quantizeConv } from '../engine/conv';
import { gpfq } from '../engine/gpfq';
import { GramAccumulator } from '../engine/gram';
import { uniformHalfWidth } from '../reference/alphabet';
import { binQuantize, errorSummary, fixedPointQuantize } from '../methods/binfixed';
import { gptq } from '../methods/gptq';
import { fineTune } from '../methods/finetune';
import { InqIncrement, InqTensor, quantizeInq } from '../methods/inq_train';
import type { QuantizedTensor } from '../io/export';
import { getTf, Tf } from '../tf/runtime';
import { mixSeed } from '../util/rng';
import { createProgress } from '../util/progress';
import { captureModel, cloneModel, getKernel, LayerPlan, NetworkPlan, planNetwork, setKernel } from './network';
import { QuantizeOptions } from './options';

/** What happened to one layer. */
export interface LayerRecord {
  name: string;
  className: string;
  kind: LayerPlan['kind'];
  kernelShape: number[];
  /** Inputs per neuron and neurons per group; groups > 1 for depthwise / channel-parallel / grouped. */
  n0: number;
  n1: number;
  groups: number;
  /** Calibration images, and the rows (samples or patches) the quantizer saw. */
  images: number;
  rows: number;
  sameInputs: boolean;
  algorithm: 'direct' | 'gram' | 'none';
  backend: string;
  bits: number;
  scalar: number;
  alphabet: { kind: string; levels: number; step: number; min: number; radius: number };
  /** Relative output error ||XW − X~Q|| / ||XW|| of the method (per-neuron mean / median / max, and layer aggregate). */
  relError?: { mean: number; median: number; max: number; layer: number };
  /** Share of exact zeros in the quantized kernel (and in the analog kernel, for comparison). */
  sparsity: number;
  analogSparsity: number;
  /** Bias correction: the largest |shift| added to the bias, or why it was not applied. */
  biasCorrection?: { maxShift: number } | { skipped: string };
  captureSeconds: number;
  quantizeSeconds: number;
  /** Retraining of the not-yet-quantized layers after this one (retrainEpochs > 0). */
  retrain?: { epochs: number; finalLoss: number; seconds: number };
}

/** bin / fixed-point: one record per quantized tensor. */
export interface TensorRecord {
  name: string;
  shape: number[];
  /** 100 · ||dequantized − original||₂ / ||original||₂ (the originals' summary metric). */
  relErrorPercent: number;
  levels: number;
  /** Stored exactly on a uint8/uint16 grid by the TF.js export. */
  grid: boolean;
}

export interface QuantizedNetwork {
  plan?: NetworkPlan;
  /** bin / fixed-point: per-tensor records and the min / max / mean of their relative errors (%). */
  tensorRecords?: TensorRecord[];
  tensorSummary?: { min: number; max: number; mean: number };
  /** The float last layer's bias correction (keep-last-float + bias correction). */
  lastFloatCorrection?: { layer: string; maxShift: number };
  /** INQ: the exponent-coded kernels (for the INQ export) and the per-increment record. */
  inq?: { tensors: InqTensor[]; increments: InqIncrement[] };
  /** The network quantized with the chosen method. */
  quantized: tfjs.LayersModel;
  /** The MSQ baseline with the same alphabets (method 'gpfq'). */
  baseline?: tfjs.LayersModel;
  /** Quantized kernels with their grids, for the exporters. */
  tensors: QuantizedTensor[];
  layers: LayerRecord[];
  seconds: number;
}

export interface PipelineHooks {
  /** Checked between batches and layers; throws to abort (e.g. on Ctrl-C). */
  checkAbort?: () => void;
}

function stats(rel: Float64Array, err: Float64Array): LayerRecord['relError'] {
  const v = Array.from(rel).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  let e2 = 0;
  let r2 = 0;
  for (let j = 0; j < rel.length; j++) {
    e2 += err[j] * err[j];
    if (rel[j] > 0 && Number.isFinite(rel[j])) r2 += (err[j] / rel[j]) ** 2;
  }
  return {
    mean: v.reduce((a, b) => a + b, 0) / v.length,
    median: v[Math.floor(v.length / 2)],
    max: v[v.length - 1],
    layer: r2 > 0 ? Math.sqrt(e2 / r2) : 0,
  };
}

/** Grid codes of quantized values: code of the level, or the grid's zero for literal zeros (-1). */
function gridCodes(codes: Int32Array, grid: AlphabetGrid): Int32Array {
  const zero = Math.round(-grid.min / grid.step);
  return codes.map((c) => (c < 0 ? zero : grid.codes[c]));
}

function sparsity(q: Float32Array): number {
  let z = 0;
  for (const v of q) if (v === 0) z++;
  return q.length ? z / q.length : 0;
}

function convSpec(lp: LayerPlan, o: QuantizeOptions): ConvLayerSpec {
  return lp.kind === 'depthwise'
    ? { layer: 'depthwise', kernelShape: lp.kernelShape }
    : { layer: 'conv2d', kernelShape: lp.kernelShape, mode: o.convMode, order: o.convMode === 'channel' ? 'hwc' : o.columnOrder };
}

/** Bits and scalar of a layer: the per-layer table, else the Dense / conv setting, else the global one. */
function layerBits(lp: LayerPlan, o: QuantizeOptions): { bits: number; scalar: number } {
  const conv = lp.kind !== 'dense';
  const row = o.bitsPerLayer?.[lp.name];
  return {
    bits: row?.bits ?? (conv ? o.convBits : o.denseBits) ?? o.bits,
    scalar: row?.scalar ?? (conv ? o.convScalar : o.denseScalar) ?? o.scalar,
  };
}

/** Mean pre-activation output E[X]·W of a layer (without bias), per output channel. */
function outputMeans(lp: LayerPlan, o: QuantizeOptions, kernel: Float32Array, means: Float64Array[]): Float64Array {
  if (lp.kind !== 'dense') return convOutputMeans(kernel, convSpec(lp, o), means);
  const [n0, n1] = lp.kernelShape;
  const out = new Float64Array(n1);
  for (let t = 0; t < n0; t++) {
    const m = means[0][t];
    if (m !== 0) for (let j = 0; j < n1; j++) out[j] += m * kernel[t * n1 + j];
  }
  return out;
}

/**
 * Bias correction (ZZS 4.6, generalised): b' = b + E[X]·W − E[X~]·Q, so the quantized layer's
 * mean output on the calibration data equals the analog one. Q = W for a layer kept in float.
 */
async function correctBias(
  tf: Tf,
  quant: tfjs.LayersModel,
  lp: LayerPlan,
  o: QuantizeOptions,
  cap: Capture,
  w: Float32Array,
  q: Float32Array,
): Promise<LayerRecord['biasCorrection']> {
  const layer = quant.layers[lp.index];
  const at = layer.weights.findIndex((v) => /bias$/.test(v.originalName));
  if (at < 0) return { skipped: 'the layer has no bias' };
  let meanX: Float64Array[];
  let meanXq: Float64Array[];
  if (cap.acc) {
    const groups = cap.acc.groups;
    const mats = [];
    for (let g = 0; g < groups; g++) mats.push(await cap.acc.matrices(g));
    if (mats.some((m) => !m.meanX)) return { skipped: 'the CUDA backend does not track input means; use --backend native' };
    meanX = mats.map((m) => m.meanX!);
    meanXq = mats.map((m) => m.meanXq!);
  } else if (lp.kind === 'dense') {
    const n0 = lp.kernelShape[0];
    const mean = (a: Float32Array) => {
      const m = new Float64Array(n0);
      const rows = a.length / n0;
      for (let i = 0; i < a.length; i++) m[i % n0] += a[i] / rows;
      return m;
    };
    meanX = [mean(cap.x!)];
    meanXq = [cap.xq ? mean(cap.xq) : meanX[0]];
  } else {
    return { skipped: "bias correction of conv layers needs the Gram form (--algorithm gram or auto)" };
  }
  const shift = outputMeans(lp, o, w, meanX);
  const mq = outputMeans(lp, o, q, meanXq);
  const ws = layer.getWeights();
  const b = Float32Array.from(ws[at].dataSync());
  let maxShift = 0;
  for (let j = 0; j < b.length; j++) {
    const d = shift[j] - mq[j];
    b[j] += d;
    maxShift = Math.max(maxShift, Math.abs(d));
  }
  const next = ws.map((t, i) => (i === at ? tf.tensor(b, t.shape, 'float32') : t));
  layer.setWeights(next);
  next[at].dispose();
  return { maxShift };
}

/** Kernel as an n0 x n1 neuron matrix for the alphabet radius (neurons = output channels). */
function neuronShape(lp: LayerPlan): [number, number] {
  const ks = lp.kernelShape;
  const size = ks.reduce((a, b) => a * b, 1);
  const n1 = lp.kind === 'depthwise' ? ks[2] * ks[3] : ks[ks.length - 1];
  return [size / n1, n1];
}

interface Capture {
  images: number;
  rows: number;
  same: boolean;
  acc?: GramAccumulator;
  x?: Float32Array;
  xq?: Float32Array;
  /** Per-sample input shape actually observed (conv: [h, w, c]). */
  shape: number[];
}

/**
 * Streams `calib` through the analog network and the quantized copy and captures layer lp's
 * inputs: into a Gram accumulator (gram) or into X / X~ arrays (direct).
 */
async function capture(
  tf: Tf,
  analog: tfjs.LayersModel,
  quant: tfjs.LayersModel,
  lp: LayerPlan,
  calib: Dataset,
  same: boolean,
  algorithm: 'direct' | 'gram',
  o: QuantizeOptions,
  hooks: PipelineHooks,
): Promise<Capture> {
  const subA = captureModel(tf, analog, lp.index);
  const subQ = same ? null : captureModel(tf, quant, lp.index);
  const sampleSize = calib.shape.reduce((a, b) => a * b, 1);
  const bar = createProgress({ label: `  ${lp.name}: capture`, total: calib.count, unit: 'images', quiet: o.quiet });
  const cap: Capture = { images: calib.count, rows: 0, same, shape: [] };
  const parts: Float32Array[] = [];
  const partsQ: Float32Array[] = [];
  const spec = lp.kind === 'dense' ? undefined : convSpec(lp, o);
  const layout = spec ? convLayout(spec) : undefined;
  try {
    for (let start = 0; start < calib.count; start += o.batchSize) {
      hooks.checkAbort?.();
      const n = Math.min(o.batchSize, calib.count - start);
      const xb = tf.tensor(calib.x.subarray(start * sampleSize, (start + n) * sampleSize), [n, ...calib.shape]);
      const ta = subA ? (subA.predict(xb) as tfjs.Tensor) : xb;
      const tq = same ? ta : subQ ? (subQ.predict(xb) as tfjs.Tensor) : xb;
      const x = (await ta.data()) as Float32Array;
      const xq = same ? undefined : ((await tq.data()) as Float32Array);
      cap.shape = ta.shape.slice(1) as number[];
      tf.dispose([xb, ta, tq]);
      if (lp.kind === 'dense') {
        const n0 = lp.kernelShape[0];
        if (x.length % n0 !== 0) throw new QnnError('QNN_E_INTERNAL', `layer ${lp.name}: captured ${x.length} values, not rows of ${n0}`);
        cap.rows += x.length / n0;
        if (algorithm === 'gram') {
          cap.acc ??= new GramAccumulator({ d: n0, same, precision: o.precision, backend: o.backend, threads: o.threads });
          await cap.acc.add(x, xq);
        } else {
          parts.push(x);
          if (xq) partsQ.push(xq);
        }
      } else {
        const [h, w, c] = cap.shape;
        const patch = {
          shape: [n, h, w, c], kernel: lp.conv!.kernel, strides: lp.conv!.strides, dilations: lp.conv!.dilations, padding: lp.conv!.padding,
          mode: lp.kind === 'depthwise' || o.convMode === 'channel' ? ('channel' as const) : o.convMode,
          order: spec!.order, retainRate: o.retainRate, seed: o.seed, imageOffset: start,
        };
        if (algorithm === 'gram') {
          cap.acc ??= new GramAccumulator({ d: layout!.d, groups: layout!.groups, same, precision: o.precision, backend: o.backend, threads: o.threads });
          await cap.acc.addConv(x, xq, patch);
          cap.rows = cap.acc.rows;
        } else {
          parts.push(x);
          if (xq) partsQ.push(xq);
        }
      }
      bar.tick(n);
    }
  } catch (e) {
    cap.acc?.dispose();
    throw e;
  } finally {
    // The capture sub-models share their layers (and weights) with the full models: disposing
    // them would dispose those layers, and they own nothing else.
    bar.done();
  }
  if (algorithm === 'direct') {
    const join = (ps: Float32Array[]) => {
      const out = new Float32Array(ps.reduce((a, p) => a + p.length, 0));
      let off = 0;
      for (const p of ps) {
        out.set(p, off);
        off += p.length;
      }
      return out;
    };
    cap.x = join(parts);
    cap.xq = same ? undefined : join(partsQ);
  }
  return cap;
}

function chooseAlgorithm(lp: LayerPlan, o: QuantizeOptions, images: number): 'direct' | 'gram' {
  if (o.algorithm !== 'auto') return o.algorithm;
  if (lp.kind !== 'dense') return 'gram';
  // Direct keeps X, X~ (m x n0 each) and U (m x n1): use it while that stays under ~256 MB.
  const rows = images * Math.max(1, lp.inputShape.slice(0, -1).reduce((a, b) => a * Math.max(1, b), 1));
  const [n0, n1] = lp.kernelShape;
  return rows * (2 * n0 + n1) * 4 <= 256 * 2 ** 20 ? 'direct' : 'gram';
}

/** Quantizes `model` with data `train` (calibration / retraining) per the options. */
export async function quantizeNetwork(
  model: tfjs.LayersModel,
  train: Dataset,
  o: QuantizeOptions,
  hooks: PipelineHooks = {},
  test?: Dataset,
): Promise<QuantizedNetwork> {
  if (o.method === 'bin' || o.method === 'fixed-point') return quantizeTensors(model, o);
  if (o.method === 'inq') {
    const r = await quantizeInq(
      model,
      train,
      { bits: o.bits, increments: o.inqIncrements, strategy: o.inqStrategy, epochs: o.inqEpochs, batchSize: o.inqBatchSize, learningRate: o.inqLearningRate, seed: o.seed, maxTrain: o.trainSamples, quiet: o.quiet, checkAbort: hooks.checkAbort },
      test,
    );
    return { quantized: r.model, tensors: r.tensors.map((t) => ({ name: t.name, values: t.values })), layers: [], inq: { tensors: r.tensors, increments: r.increments }, seconds: r.seconds };
  }
  return quantizeLayers(model, train, o, hooks);
}

/** The alphabet methods (GPFQ, GPTQ, MSQ), layer by layer. */
async function quantizeLayers(model: tfjs.LayersModel, train: Dataset, o: QuantizeOptions, hooks: PipelineHooks): Promise<QuantizedNetwork> {
  const tf = await getTf();
  const start = Date.now();
  const plan = planNetwork(model, o);
  if (plan.quantize.length === 0) throw new QnnError('QNN_E_RANGE', 'no layer left to quantize (check --layers / --skip-layers / --keep-last-float)');
  const quantizedNames = plan.quantize.map((l) => l.name);
  for (const name of Object.keys(o.bitsPerLayer ?? {})) {
    if (!quantizedNames.includes(name)) {
      throw new QnnError('QNN_E_RANGE', `--bits-per-layer names '${name}', which is not a quantized layer of this model`, { hint: `the quantized layers are: ${quantizedNames.join(', ')}` });
    }
  }
  const dataDriven = o.method !== 'msq';
  const quant = await cloneModel(tf, model);
  const baseline = dataDriven ? await cloneModel(tf, model) : undefined;
  // Every layer re-runs the network prefix over the calibration set, so conv networks default to
  // 2048 images (ZZS's m for ResNet-18); dense-only networks, whose passes are cheap, to 10,000.
  const samples = Math.min(o.samples ?? (plan.quantize.some((l) => l.kind !== 'dense') ? 2048 : 10000), train.count);
  const pick = (seed: number) => subset(train, stratifiedSample(train.y, train.numClasses, samples, seed));
  let calib = dataDriven ? pick(o.seed) : undefined;
  const layers: LayerRecord[] = [];
  const tensors: QuantizedTensor[] = [];
  const altBackend = o.backend === 'cuda' ? 'auto' : o.backend; // alphabets and MSQ have no CUDA path
  let quantizedSoFar = 0;
  for (const [k, lp] of plan.quantize.entries()) {
    hooks.checkAbort?.();
    const conv = lp.kind !== 'dense';
    const { bits, scalar } = layerBits(lp, o);
    const w = getKernel(model, lp.index, lp.kernelName);
    const [n0r, n1r] = neuronShape(lp);
    // The alphabet: the preset's kind, or the ZZS L0 set {0, ±(λ + kδ)} with δ = (C R − λ) / K.
    let grid: AlphabetGrid | undefined;
    let levels: Float32Array;
    let l0: { delta: number; kMax: number } | undefined;
    const g0 = alphabetGrid({ kind: o.quantizer === 'l0' ? 'zzs-uniform' : o.alphabet, bits, scalar, percentile: o.percentile, weights: w, n0: n0r, n1: n1r, backend: altBackend });
    if (o.quantizer === 'l0') {
      const kMax = uniformHalfWidth(bits);
      const delta = (scalar * g0.radius - o.lambda) / kMax;
      if (!(delta > 0)) throw new QnnError('QNN_E_RANGE', `layer ${lp.name}: --lambda ${o.lambda} leaves no room for the L0 grid (C·R = ${(scalar * g0.radius).toPrecision(4)})`, { hint: 'use a smaller --lambda' });
      l0 = { delta, kMax };
      levels = l0Alphabet({ delta, lambda: o.lambda, kMax });
    } else {
      grid = g0;
      levels = g0.levels;
    }
    const common = {
      alphabet: levels, backend: o.backend, threads: o.threads, deadInput: o.deadInput, shortcut: o.shortcut,
      tie: o.tie, quantizer: o.quantizer, lambda: o.lambda, l0, seed: mixSeed(o.seed, k), precision: o.precision,
    };
    const spec = conv ? convSpec(lp, o) : undefined;
    const layout = spec ? convLayout(spec) : { groups: 1, d: lp.kernelShape[0], n1: lp.kernelShape[1], outChannels: lp.kernelShape[1] };
    const record: LayerRecord = {
      name: lp.name, className: lp.className, kind: lp.kind, kernelShape: lp.kernelShape, n0: layout.d, n1: layout.n1, groups: layout.groups,
      images: 0, rows: 0, sameInputs: quantizedSoFar === 0, algorithm: 'none', backend: '', bits, scalar,
      alphabet: { kind: o.quantizer === 'l0' ? 'l0' : o.alphabet, levels: levels.length, step: l0 ? l0.delta : g0.step, min: levels[0], radius: g0.radius },
      sparsity: 0, analogSparsity: sparsity(w), captureSeconds: 0, quantizeSeconds: 0,
    };
    let q: Float32Array;
    let codes: Int32Array;
    if (!dataDriven) {
      const t = Date.now();
      ({ q, codes } = msq({ weights: w, alphabet: levels, n1: n1r, tie: o.tie, quantizer: o.quantizer, lambda: o.lambda, l0, seed: common.seed, backend: altBackend }));
      record.quantizeSeconds = (Date.now() - t) / 1000;
      record.backend = altBackend;
    } else {
      if (o.freshPerLayer && k > 0) calib = pick(mixSeed(o.seed, k));
      const algorithm = chooseAlgorithm(lp, o, calib!.count);
      const t0 = Date.now();
      const cap = await capture(tf, model, quant, lp, calib!, quantizedSoFar === 0, algorithm, o, hooks);
      const t1 = Date.now();
      let r: { codes: Int32Array; q: Float32Array; error: Float64Array; relError: Float64Array; backend: string };
      const gptqOpts = { blockSize: o.gptqBlockSize, percDamp: o.percDamp, actOrder: o.actOrder };
      try {
        if (!conv) {
          const data = cap.acc ? { gram: cap.acc } : { x: cap.x!, xq: cap.xq };
          r = o.method === 'gptq'
            ? await gptq({ ...common, ...gptqOpts, ...data, weights: w, n0: layout.d, n1: layout.n1, backend: altBackend })
            : await gpfq({ ...common, ...data, weights: w, n0: layout.d, n1: layout.n1, algorithm: cap.acc ? 'gram' : 'direct' });
        } else if (cap.acc) {
          r = await quantizeConv({ ...common, ...spec!, kernel: w, gram: cap.acc, solver: o.method === 'gptq' ? 'gptq' : 'gpfq', gptq: gptqOpts });
        } else {
          const [h, wd, c] = cap.shape;
          r = await quantizeConv({
            ...common, ...spec!, kernel: w, algorithm: 'direct', solver: o.method === 'gptq' ? 'gptq' : 'gpfq', gptq: gptqOpts,
            inputs: { x: cap.x!, xq: cap.xq, patch: { shape: [cap.images, h, wd, c], kernel: lp.conv!.kernel, strides: lp.conv!.strides, dilations: lp.conv!.dilations, padding: lp.conv!.padding, mode: o.convMode, retainRate: o.retainRate, seed: o.seed, order: spec!.order } },
          });
        }
        q = r.q;
        codes = r.codes;
        if (o.biasCorrection === 'all' || (o.biasCorrection === 'last' && !o.keepLastFloat && k === plan.quantize.length - 1)) {
          record.biasCorrection = await correctBias(tf, quant, lp, o, cap, w, q);
        }
      } finally {
        cap.acc?.dispose();
      }
      Object.assign(record, {
        images: cap.images, rows: cap.rows, algorithm, backend: r.backend, relError: stats(r.relError, r.error),
        captureSeconds: (t1 - t0) / 1000, quantizeSeconds: (Date.now() - t1) / 1000,
      });
      const m = msq({ weights: w, alphabet: levels, n1: n1r, tie: o.tie, quantizer: o.quantizer, lambda: o.lambda, l0, seed: common.seed, backend: altBackend });
      setKernel(tf, baseline!, lp.index, lp.kernelName, m.q);
    }
    setKernel(tf, quant, lp.index, lp.kernelName, q);
    record.sparsity = sparsity(q);
    // Retraining (ZZS 4.7): fine-tune what is still float, the quantized layers frozen.
    if (dataDriven && o.retrainEpochs > 0 && quantizedSoFar + 1 > o.retrainAfter && k < plan.quantize.length - 1) {
      const frozen = plan.quantize.slice(0, k + 1).map((l) => l.name);
      const ft = await fineTune(quant, train, { frozen, epochs: o.retrainEpochs, learningRate: o.retrainLearningRate, seed: mixSeed(o.seed, 1000 + k), maxTrain: o.trainSamples, quiet: o.quiet, checkAbort: hooks.checkAbort });
      record.retrain = { epochs: o.retrainEpochs, finalLoss: ft.history[ft.history.length - 1]?.loss ?? NaN, seconds: ft.seconds };
    }
    tensors.push(grid ? { name: lp.kernelName, values: q, grid: { step: grid.step, min: grid.min }, codes: gridCodes(codes, grid) } : { name: lp.kernelName, values: q });
    layers.push(record);
    quantizedSoFar++;
    if (!o.quiet) {
      const rel = record.relError ? `, rel. error ${record.relError.layer.toFixed(4)}` : '';
      process.stderr.write(`  ${lp.name}: ${record.algorithm === 'none' ? o.method : `${o.method} ${record.algorithm}`} on ${record.backend}, ${levels.length} levels${rel}, ${(record.captureSeconds + record.quantizeSeconds).toFixed(2)} s\n`);
    }
  }
  const result: QuantizedNetwork = { plan, quantized: quant, baseline, tensors, layers, seconds: 0 };
  // ZZS 4.6: the last layer restored to float, its bias corrected for the quantized inputs.
  const lastFloat = plan.lastFloat;
  if (lastFloat && dataDriven && o.biasCorrection !== 'none') {
    const cap = await capture(tf, model, quant, lastFloat, calib!, false, 'gram', o, hooks);
    try {
      const w = getKernel(model, lastFloat.index, lastFloat.kernelName);
      const bc = await correctBias(tf, quant, lastFloat, o, cap, w, w);
      if (bc && 'maxShift' in bc) result.lastFloatCorrection = { layer: lastFloat.name, maxShift: bc.maxShift };
    } finally {
      cap.acc?.dispose();
    }
  }
  result.seconds = (Date.now() - start) / 1000;
  return result;
}

/** Weights a tensor-wise method quantizes: kernels (of any layer), or every trainable tensor. */
function tensorTargets(model: tfjs.LayersModel, o: QuantizeOptions): Array<{ layer: number; weight: number; name: string }> {
  const names = new Set(model.layers.map((l) => l.name));
  for (const n of [...(o.layers ?? []), ...o.skipLayers]) {
    if (!names.has(n)) throw new QnnError('QNN_E_RANGE', `layer '${n}' is not in the model`, { hint: `its layers are: ${[...names].join(', ')}` });
  }
  const only = o.layers ? new Set(o.layers) : undefined;
  const skip = new Set(o.skipLayers);
  const out: Array<{ layer: number; weight: number; name: string }> = [];
  model.layers.forEach((l, li) => {
    if ((only && !only.has(l.name)) || skip.has(l.name)) return;
    l.weights.forEach((w, wi) => {
      if (!w.trainable) return;
      if (o.tensors === 'kernels' && !/kernel$/.test(w.originalName)) return;
      out.push({ layer: li, weight: wi, name: w.originalName });
    });
  });
  if (o.keepLastFloat && out.length) {
    const last = out[out.length - 1].layer;
    return out.filter((t) => t.layer !== last);
  }
  return out;
}

/** Bin or fixed-point quantization (ALGORITHMS.md 5), tensor by tensor, without data. */
async function quantizeTensors(model: tfjs.LayersModel, o: QuantizeOptions): Promise<QuantizedNetwork> {
  const tf = await getTf();
  const start = Date.now();
  const quant = await cloneModel(tf, model);
  const targets = tensorTargets(model, o);
  if (targets.length === 0) throw new QnnError('QNN_E_RANGE', 'no tensor left to quantize (check --layers / --skip-layers / --tensors)');
  const tensors: QuantizedTensor[] = [];
  const records: TensorRecord[] = [];
  const originals: Float32Array[] = [];
  const dequantized: Float32Array[] = [];
  for (const t of targets) {
    const layer = quant.layers[t.layer];
    const ws = layer.getWeights();
    const x = Float32Array.from(ws[t.weight].dataSync());
    const r = o.method === 'bin' ? binQuantize(x, o.bits) : fixedPointQuantize(x, o.bits);
    const next = ws.map((v, i) => (i === t.weight ? tf.tensor(r.values, v.shape, 'float32') : v));
    layer.setWeights(next);
    next[t.weight].dispose();
    originals.push(x);
    dequantized.push(r.values);
    const rel = errorSummary([x], [r.values]);
    records.push({ name: t.name, shape: ws[t.weight].shape.slice(), relErrorPercent: rel.mean, levels: new Set(Array.from(r.values)).size, grid: Boolean(r.grid) });
    tensors.push(r.grid ? { name: t.name, values: r.values, grid: { step: r.grid.step, min: r.grid.min }, codes: Int32Array.from(r.grid.codes) } : { name: t.name, values: r.values });
  }
  const s = errorSummary(originals, dequantized);
  if (!o.quiet) process.stderr.write(`  ${o.method}: ${targets.length} tensors at ${o.bits} bits, relative error min ${s.min.toFixed(2)} % / max ${s.max.toFixed(2)} % / mean ${s.mean.toFixed(2)} %\n`);
  return { quantized: quant, tensors, layers: [], tensorRecords: records, tensorSummary: { min: s.min, max: s.max, mean: s.mean }, seconds: (Date.now() - start) / 1000 };
}
