/**
 * One quantization run end to end, as `qnn-native quantize` does it: load the model and the data,
 * quantize layer by layer, evaluate the analog, quantized and MSQ networks, export (a stock TF.js
 * layers model with uint8/uint16 codes, and the packed low-bit format), verify the export by
 * reloading it with stock TF.js, and write metrics.json / metrics.csv. Everything is written into
 * a temporary directory beside `out` and renamed into place at the end, so a failure or Ctrl-C
 * never leaves a half-written output.
 */
import * as fs from 'fs';
import * as path from 'path';

import { loadDataset, Preprocess } from '../data';
import { backends, buildInfo } from '../engine/backend';
import { QnnError, toQnnError } from '../errors';
import { checkModelMatches, evaluate, EvaluateResult } from '../eval/evaluate';
import { exportQuantizedTfjs, roundTripCheck } from '../io/export';
import { loadModel, saveModel } from '../io/model_io';
import { exportPacked, loadPacked } from '../io/packed';
import { exportInq, loadInq } from '../io/inq';
import { dirSize } from '../io/sizes';
import { getTf, tfRuntimeInfo } from '../tf/runtime';
import { findTrainRecord } from '../train/record';
import { writeMetrics } from './report';
import { PipelineHooks, quantizeNetwork } from './pipeline';
import { ALPHABET_METHODS, QuantizeOptions, resolveOptions } from './options';

export type ExportFormat = 'tfjs' | 'packed' | 'inq';

export interface RunOptions extends Partial<QuantizeOptions> {
  /** Model directory / model.json / .h5 (default: the bundled MNIST MLP). */
  model?: string;
  /** Dataset spec (default: the one recorded in the model's train.json, else 'mnist'). */
  data?: string;
  preprocess?: Preprocess;
  /** Output directory (default ./qnn-out); refused if it exists unless `force`. */
  out?: string;
  force?: boolean;
  /** Exports to write (default tfjs + packed; INQ: tfjs + inq). */
  formats?: ExportFormat[];
  /** Evaluate on at most this many test samples (seeded, stratified). */
  maxTest?: number;
  /** The command line, recorded in the metrics. */
  command?: string;
}

export interface AccuracyRecord {
  top1: number;
  top5: number;
  count: number;
  seconds: number;
}

export interface RunMetrics {
  tool: 'qnn-native';
  version: string;
  createdAt: string;
  command?: string;
  settings: QuantizeOptions & { model: string; data: string; preprocess?: string; out: string; formats: ExportFormat[]; maxTest?: number };
  data: { spec: string; description: string; settings: Record<string, unknown>; train: number; test: number; calibrationImages: number };
  runtime: { tfjs: unknown; engine: unknown; backends: unknown };
  accuracy: { analog: AccuracyRecord; quantized: AccuracyRecord; baseline?: AccuracyRecord };
  layers: Awaited<ReturnType<typeof quantizeNetwork>>['layers'];
  /** bin / fixed-point: per-tensor relative errors (%) and their min / max / mean. */
  tensors?: Awaited<ReturnType<typeof quantizeNetwork>>['tensorRecords'];
  tensorSummary?: { min: number; max: number; mean: number };
  /** keep-last-float + bias correction: the float last layer's bias shift. */
  lastFloatCorrection?: { layer: string; maxShift: number };
  skipped: Array<{ name: string; className: string; reason: string }>;
  unsupportedKeptFloat: Array<{ name: string; className: string }>;
  sizes: { analog: { bytes: number; gzipBytes: number }; tfjs?: { bytes: number; gzipBytes: number }; packed?: { bytes: number; gzipBytes: number }; inq?: { bytes: number; gzipBytes: number } };
  exports: { tfjs?: unknown; packed?: unknown; inq?: unknown };
  /** INQ: per-increment frozen fractions and accuracy. */
  inqIncrements?: unknown;
  roundTrip?: { tfjsMaxAbsDiffLogits: number; tfjsWeightsBitExact: boolean; packedMaxAbsDiffLogits?: number; inqMaxAbsDiffLogits?: number };
  times: { load: number; quantize: number; evaluate: number; export: number; total: number };
}

/** The bundled model used when --model is not given. */
export function bundledModelDir(): string {
  return path.resolve(__dirname, '..', '..', 'models', 'mnist-mlp');
}

function acc(r: EvaluateResult): AccuracyRecord {
  return { top1: r.top1, top5: r.top5, count: r.count, seconds: r.seconds };
}

/** Runs a whole quantization; returns the metrics written to `<out>/metrics.json`. */
export async function runQuantize(user: RunOptions, hooks: PipelineHooks = {}): Promise<RunMetrics> {
  const t0 = Date.now();
  const o = resolveOptions(user);
  const modelPath = path.resolve(user.model ?? bundledModelDir());
  // Default to the data and preprocessing the model was trained with (its train.json).
  const rec = (await findTrainRecord(modelPath))?.settings;
  const dataSpec = user.data ?? rec?.data ?? 'mnist';
  const preprocess = user.preprocess ?? (user.data === undefined ? rec?.preprocess : undefined);
  const out = path.resolve(user.out ?? 'qnn-out');
  const formats = user.formats ?? (o.method === 'inq' ? ['tfjs', 'inq'] : ['tfjs', 'packed']);
  if (formats.includes('inq') && o.method !== 'inq') throw new QnnError('QNN_E_RANGE', "--format inq is for --method inq");
  if (fs.existsSync(out) && !user.force) {
    throw new QnnError('QNN_E_EXISTS', `the output directory ${out} already exists`, { hint: 'Pass --force to replace it, or choose another --out' });
  }
  if (!fs.existsSync(modelPath)) {
    throw new QnnError('QNN_E_IO', `model not found: ${modelPath}`, { hint: 'Pass --model <dir | model.json | file.h5>' });
  }
  const tmp = `${out}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    fs.mkdirSync(tmp, { recursive: true });
    const tf = await getTf();
    const model = await loadModel(modelPath);
    const data = await loadDataset(dataSpec, { seed: o.seed, preprocess, quiet: o.quiet, maxTest: user.maxTest });
    checkModelMatches(model, data.train, `the data '${dataSpec}'`);
    const t1 = Date.now();
    hooks.checkAbort?.();
    if (!o.quiet) process.stderr.write(`quantizing ${modelPath} with ${o.method} (${o.bits} bits${ALPHABET_METHODS.includes(o.method) ? `, ${o.preset} preset, C = ${o.scalar}` : ''}) on '${dataSpec}'\n`);
    const net = await quantizeNetwork(model, data.train, o, hooks, data.test);
    const t2 = Date.now();
    hooks.checkAbort?.();
    const analog = acc(await evaluate(model, data.test, { quiet: o.quiet }));
    const quantized = acc(await evaluate(net.quantized, data.test, { quiet: o.quiet }));
    const baseline = net.baseline ? acc(await evaluate(net.baseline, data.test, { quiet: o.quiet })) : undefined;
    const t3 = Date.now();
    hooks.checkAbort?.();

    const analogDir = path.join(tmp, '.analog-size');
    await saveModel(model, analogDir);
    const analogSize = await dirSize(analogDir);
    fs.rmSync(analogDir, { recursive: true, force: true });
    const metadata = { qnnNative: { method: o.method, preset: o.preset, bits: o.bits, scalar: o.scalar, seed: o.seed, data: dataSpec } };
    const sizes: RunMetrics['sizes'] = { analog: analogSize };
    const exports: RunMetrics['exports'] = {};
    let roundTrip: RunMetrics['roundTrip'];
    const sample = Math.min(256, data.test.count);
    const sampleX = data.test.x.subarray(0, sample * data.test.shape.reduce((a, b) => a * b, 1));
    if (formats.includes('tfjs')) {
      const e = await exportQuantizedTfjs(net.quantized, net.tensors, path.join(tmp, 'model'), { metadata });
      sizes.tfjs = { bytes: e.bytes, gzipBytes: e.gzipBytes };
      exports.tfjs = { dir: 'model', tensors: e.tensors };
      const rt = await roundTripCheck(e.dir, net.quantized, sampleX, [sample, ...data.test.shape]);
      roundTrip = { tfjsMaxAbsDiffLogits: rt.maxAbsDiffLogits, tfjsWeightsBitExact: rt.weightsBitExact };
    }
    const tfSample = () => tf.tensor(sampleX, [sample, ...data.test.shape]);
    const diffTo = async (reloaded: import('@tensorflow/tfjs').LayersModel) => {
      const a = net.quantized.predict(tfSample()) as import('@tensorflow/tfjs').Tensor;
      const b = reloaded.predict(tfSample()) as import('@tensorflow/tfjs').Tensor;
      const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
      tf.dispose([a, b]);
      reloaded.dispose();
      return diff;
    };
    roundTrip ??= { tfjsMaxAbsDiffLogits: NaN, tfjsWeightsBitExact: false };
    if (formats.includes('packed')) {
      const p = await exportPacked(net.quantized, net.tensors, path.join(tmp, 'packed'));
      sizes.packed = { bytes: p.bytes, gzipBytes: p.gzipBytes };
      exports.packed = { dir: 'packed', tensors: p.tensors };
      roundTrip.packedMaxAbsDiffLogits = await diffTo(await loadPacked(p.dir));
    }
    if (formats.includes('inq') && net.inq) {
      const e = await exportInq(net.quantized, net.inq.tensors, path.join(tmp, 'inq'), { metadata });
      sizes.inq = { bytes: e.bytes, gzipBytes: e.gzipBytes };
      exports.inq = { dir: 'inq', tensors: e.tensors, float32Bytes: e.float32Bytes };
      roundTrip.inqMaxAbsDiffLogits = await diffTo(await loadInq(e.dir));
    }
    const t4 = Date.now();
    const info = buildInfo();
    const metrics: RunMetrics = {
      tool: 'qnn-native',
      version: info.version,
      createdAt: new Date().toISOString(),
      command: user.command,
      settings: { ...o, model: modelPath, data: dataSpec, preprocess: preprocess ?? (data.settings.preprocess as string | undefined), out, formats, maxTest: user.maxTest },
      data: { spec: dataSpec, description: data.description, settings: data.settings, train: data.train.count, test: data.test.count, calibrationImages: net.layers[0]?.images ?? 0 },
      runtime: { tfjs: tfRuntimeInfo(), engine: info.native, backends: backends().map((b) => ({ name: b.name, available: b.available, reason: b.reason })) },
      accuracy: { analog, quantized, baseline },
      layers: net.layers,
      tensors: net.tensorRecords,
      tensorSummary: net.tensorSummary,
      lastFloatCorrection: net.lastFloatCorrection,
      inqIncrements: net.inq?.increments.map((i) => ({ ...i, history: i.history.map((h) => ({ epoch: h.epoch, loss: h.loss, accuracy: h.accuracy })) })),
      skipped: net.plan?.skipped ?? [],
      unsupportedKeptFloat: net.plan?.unsupported ?? [],
      sizes,
      exports,
      roundTrip,
      times: { load: (t1 - t0) / 1000, quantize: (t2 - t1) / 1000, evaluate: (t3 - t2) / 1000, export: (t4 - t3) / 1000, total: (Date.now() - t0) / 1000 },
    };
    writeMetrics(tmp, metrics);
    hooks.checkAbort?.();
    if (fs.existsSync(out)) fs.rmSync(out, { recursive: true, force: true });
    fs.renameSync(tmp, out);
    model.dispose();
    return metrics;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw toQnnError(e);
  }
}
