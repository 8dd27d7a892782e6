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
import { alphabetGrid, AlphabetGrid, msq } from '../engine/alphabet';
import { convLayout, ConvLayerSpec, quantizeConv, QuantizeConvResult } from '../engine/conv';
import { gpfq, GpfqResult } from '../engine/gpfq';
import { GramAccumulator } from '../engine/gram';
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
  /** Share of exact zeros in the quantized kernel. */
  sparsity: number;
  captureSeconds: number;
  quantizeSeconds: number;
}

export interface QuantizedNetwork {
  plan: NetworkPlan;
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

/** Quantizes `model` with data `train` (calibration) per the options. */
export async function quantizeNetwork(
  model: tfjs.LayersModel,
  train: Dataset,
  o: QuantizeOptions,
  hooks: PipelineHooks = {},
): Promise<QuantizedNetwork> {
  const tf = await getTf();
  const start = Date.now();
  const plan = planNetwork(model, o);
  if (plan.quantize.length === 0) throw new QnnError('QNN_E_RANGE', 'no layer left to quantize (check --layers / --skip-layers / --keep-last-float)');
  const quant = await cloneModel(tf, model);
  const baseline = o.method === 'gpfq' ? await cloneModel(tf, model) : undefined;
  const samples = Math.min(o.samples ?? Math.min(train.count, 10000), train.count);
  const pick = (seed: number) => subset(train, stratifiedSample(train.y, train.numClasses, samples, seed));
  let calib = o.method === 'gpfq' ? pick(o.seed) : undefined;
  const layers: LayerRecord[] = [];
  const tensors: QuantizedTensor[] = [];
  let quantizedSoFar = 0;
  for (const [k, lp] of plan.quantize.entries()) {
    hooks.checkAbort?.();
    const conv = lp.kind !== 'dense';
    const bits = (conv ? o.convBits : o.denseBits) ?? o.bits;
    const scalar = (conv ? o.convScalar : o.denseScalar) ?? o.scalar;
    const w = getKernel(model, lp.index, lp.kernelName);
    const [n0r, n1r] = neuronShape(lp);
    const grid = alphabetGrid({ kind: o.alphabet, bits, scalar, percentile: o.percentile, weights: w, n0: n0r, n1: n1r, backend: o.backend === 'cuda' ? 'auto' : o.backend });
    const common = {
      alphabet: grid.levels, backend: o.backend, threads: o.threads, deadInput: o.deadInput, shortcut: o.shortcut,
      tie: o.tie, quantizer: o.quantizer, lambda: o.lambda, seed: mixSeed(o.seed, k), precision: o.precision,
    };
    const spec = conv ? convSpec(lp, o) : undefined;
    const layout = spec ? convLayout(spec) : { groups: 1, d: lp.kernelShape[0], n1: lp.kernelShape[1], outChannels: lp.kernelShape[1] };
    const record: LayerRecord = {
      name: lp.name, className: lp.className, kind: lp.kind, kernelShape: lp.kernelShape, n0: layout.d, n1: layout.n1, groups: layout.groups,
      images: 0, rows: 0, sameInputs: quantizedSoFar === 0, algorithm: 'none', backend: '', bits, scalar,
      alphabet: { kind: o.alphabet, levels: grid.levels.length, step: grid.step, min: grid.min, radius: grid.radius },
      sparsity: 0, captureSeconds: 0, quantizeSeconds: 0,
    };
    let q: Float32Array;
    let codes: Int32Array;
    if (o.method === 'msq') {
      const t = Date.now();
      ({ q, codes } = msq({ weights: w, alphabet: grid.levels, n1: n1r, tie: o.tie, backend: o.backend === 'cuda' ? 'auto' : o.backend }));
      record.quantizeSeconds = (Date.now() - t) / 1000;
      record.backend = o.backend;
    } else {
      if (o.freshPerLayer && k > 0) calib = pick(mixSeed(o.seed, k));
      const algorithm = chooseAlgorithm(lp, o, calib!.count);
      const t0 = Date.now();
      const cap = await capture(tf, model, quant, lp, calib!, quantizedSoFar === 0, algorithm, o, hooks);
      const t1 = Date.now();
      let r: GpfqResult | QuantizeConvResult;
      try {
        if (!conv) {
          r = cap.acc
            ? await gpfq({ ...common, weights: w, n0: layout.d, n1: layout.n1, gram: cap.acc })
            : await gpfq({ ...common, weights: w, n0: layout.d, n1: layout.n1, x: cap.x!, xq: cap.xq, algorithm: 'direct' });
        } else if (cap.acc) {
          r = await quantizeConv({ ...common, ...spec!, kernel: w, gram: cap.acc });
        } else {
          const [h, wd, c] = cap.shape;
          r = await quantizeConv({
            ...common, ...spec!, kernel: w, algorithm: 'direct',
            inputs: { x: cap.x!, xq: cap.xq, patch: { shape: [cap.images, h, wd, c], kernel: lp.conv!.kernel, strides: lp.conv!.strides, dilations: lp.conv!.dilations, padding: lp.conv!.padding, mode: o.convMode, retainRate: o.retainRate, seed: o.seed, order: spec!.order } },
          });
        }
      } finally {
        cap.acc?.dispose();
      }
      q = r.q;
      codes = r.codes;
      Object.assign(record, {
        images: cap.images, rows: cap.rows, algorithm, backend: r.backend, relError: stats(r.relError, r.error),
        captureSeconds: (t1 - t0) / 1000, quantizeSeconds: (Date.now() - t1) / 1000,
      });
      const m = msq({ weights: w, alphabet: grid.levels, n1: n1r, tie: o.tie, backend: o.backend === 'cuda' ? 'auto' : o.backend });
      setKernel(tf, baseline!, lp.index, lp.kernelName, m.q);
    }
    setKernel(tf, quant, lp.index, lp.kernelName, q);
    record.sparsity = sparsity(q);
    tensors.push({ name: lp.kernelName, values: q, grid: { step: grid.step, min: grid.min }, codes: gridCodes(codes, grid) });
    layers.push(record);
    quantizedSoFar++;
    if (!o.quiet) {
      const rel = record.relError ? `, rel. error ${record.relError.layer.toFixed(4)}` : '';
      process.stderr.write(`  ${lp.name}: ${record.algorithm === 'none' ? o.method : `${o.method} ${record.algorithm}`} on ${record.backend}, ${grid.levels.length} levels${rel}, ${(record.captureSeconds + record.quantizeSeconds).toFixed(2)} s\n`);
    }
  }
  return { plan, quantized: quant, baseline, tensors, layers, seconds: (Date.now() - start) / 1000 };
}
