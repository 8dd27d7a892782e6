/**
 * Helpers shared by the model-file modules of `src/io/`: atomic directory output, reading
 * `model.json`, checking a Keras topology against what TF.js can build, building a model from
 * in-memory artifacts, and listing a model's weights under their manifest names.
 */
import { randomBytes } from 'crypto';
import { promises as fsp, type Stats } from 'fs';
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import { QnnError, toQnnError } from '../errors';
import { getTf } from '../tf/runtime';

/** One file of an output directory. */
export interface OutputFile {
  /** File name inside the directory (no subdirectories). */
  name: string;
  data: Uint8Array | string;
}

/** The stats of `p`, or `undefined` when it does not exist (other failures: QNN_E_IO). */
export async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fsp.stat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toQnnError(e, `cannot access ${p}`);
  }
}

/**
 * Refuses (QNN_E_EXISTS) when the output path `dir` exists and is a file or a non-empty
 * directory, unless `overwrite`.
 */
export async function checkOutputDir(dir: string, overwrite: boolean | undefined): Promise<void> {
  const st = await statOrUndefined(dir);
  if (!st || overwrite) return;
  if (st.isDirectory() && (await fsp.readdir(dir)).length === 0) return;
  throw new QnnError('QNN_E_EXISTS', `${dir} exists`, { hint: 'Pass --force (overwrite: true) to replace it, or choose another output path' });
}

/**
 * Writes `files` as the directory `dir`, atomically: everything goes into a temporary directory
 * next to `dir`, which is then renamed into place (an existing `dir` is moved aside first and
 * removed only after the rename succeeded). On any failure the temporary directory is removed and
 * an existing `dir` is left as it was, so a half-written directory never appears under `dir`.
 */
export async function writeDirAtomic(dir: string, files: OutputFile[], opts: { overwrite?: boolean } = {}): Promise<void> {
  const target = path.resolve(dir);
  await checkOutputDir(target, opts.overwrite);
  const parent = path.dirname(target);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = path.join(parent, `.${path.basename(target)}.tmp-${tag}`);
  try {
    await fsp.mkdir(parent, { recursive: true });
    await fsp.mkdir(tmp);
    for (const f of files) await fsp.writeFile(path.join(tmp, f.name), f.data);
    const existing = await statOrUndefined(target);
    if (!existing) {
      await fsp.rename(tmp, target);
      return;
    }
    const old = path.join(parent, `.${path.basename(target)}.old-${tag}`);
    await fsp.rename(target, old);
    try {
      await fsp.rename(tmp, target);
    } catch (e) {
      await fsp.rename(old, target);
      throw e;
    }
    await fsp.rm(old, { recursive: true, force: true });
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw toQnnError(e, `writing ${target}`);
  }
}

/** Reads and parses a JSON file: QNN_E_IO when missing or unreadable, QNN_E_MODEL when not valid JSON. */
export async function readJsonFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new QnnError('QNN_E_IO', `${file} not found`, { cause: e, hint: 'Pass a model directory that contains model.json, or the path of model.json itself' });
    }
    throw toQnnError(e, `cannot read ${file}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new QnnError('QNN_E_MODEL', `${file} is not valid JSON (${(e as Error).message})`, {
      cause: e,
      hint: 'The file is corrupt or truncated; export the model again',
    });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new QnnError('QNN_E_MODEL', `${file} does not hold a JSON object`, { hint: 'Expected a TF.js model.json' });
  }
  return parsed as Record<string, unknown>;
}

/** File name of the topology + manifest in a model directory. */
export const MODEL_JSON = 'model.json';

/** Where a model path points: the model.json file, its directory, and its parsed content. */
export interface ModelJsonLocation {
  jsonPath: string;
  dir: string;
  json: Record<string, unknown>;
}

/** Accepts a model directory or the path of its model.json and reads the JSON (QNN_E_IO / QNN_E_MODEL). */
export async function readModelJson(p: string): Promise<ModelJsonLocation> {
  const st = await statOrUndefined(p);
  if (!st) throw new QnnError('QNN_E_IO', `${p} not found`, { hint: 'Pass a model directory that contains model.json, the path of model.json, or a Keras .h5 file' });
  const jsonPath = st.isDirectory() ? path.join(p, MODEL_JSON) : p;
  return { jsonPath, dir: path.dirname(jsonPath), json: await readJsonFile(jsonPath) };
}

/** A parsed JSON object. */
export type Json = Record<string, unknown>;

/** Whether `v` is a JSON object (not null, not an array). */
export function isObj(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** The Keras model config inside a topology, which may be wrapped as `{model_config: …}`. */
export function modelConfigOf(topology: unknown): Json | undefined {
  if (!isObj(topology)) return undefined;
  return isObj(topology.model_config) ? topology.model_config : topology;
}

/**
 * Throws QNN_E_MODEL naming the class when a layer of the Keras topology (nested models and
 * wrapper layers included) is of a class TF.js has not registered.
 */
export async function checkLayerClasses(topology: unknown, source: string): Promise<void> {
  const tf = await getTf();
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const visit = (layer: unknown): void => {
    if (!isObj(layer)) return;
    const cls = layer.class_name;
    const config = layer.config;
    const name = isObj(config) && typeof config.name === 'string' ? config.name : (layer.name as string | undefined);
    if (typeof cls !== 'string' || !(cls in known)) {
      throw new QnnError('QNN_E_MODEL', `${source}: layer ${name ? `'${name}' ` : ''}has class '${String(cls)}', which TF.js 4.22 does not support`, {
        hint: 'Replace that layer with a supported one (or register a custom TF.js layer class) and export the model again',
      });
    }
    if (MODEL_CLASSES.has(cls)) {
      const layers = Array.isArray(config) ? config : isObj(config) ? config.layers : undefined;
      if (Array.isArray(layers)) layers.forEach(visit);
    } else if (isObj(config) && isObj(config.layer)) {
      visit(config.layer);
    }
  };
  visit(modelConfigOf(topology));
}

/**
 * Builds a LayersModel from in-memory artifacts with stock TF.js (strict weight matching), after
 * checking its layer classes. Any failure becomes QNN_E_MODEL naming `source`.
 */
export async function modelFromArtifacts(artifacts: tfjs.io.ModelArtifacts, source: string): Promise<tfjs.LayersModel> {
  const tf = await getTf();
  if (!isObj(artifacts.modelTopology)) {
    throw new QnnError('QNN_E_MODEL', `${source} has no Keras model topology`, {
      hint: 'Only TF.js layers models are supported (graph models from tf.saved_model cannot be quantized here)',
    });
  }
  await checkLayerClasses(artifacts.modelTopology, source);
  try {
    return await tf.loadLayersModel({ load: async () => artifacts });
  } catch (e) {
    throw new QnnError('QNN_E_MODEL', `${source}: cannot build the model (${(e as Error).message})`, {
      cause: e,
      hint: 'The topology or the weights do not match what TF.js expects; export the model again',
    });
  }
}

/** A model weight under its manifest name (`LayerVariable.originalName`, e.g. `dense_1/kernel`). */
export interface NamedWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

/** All weights of `model` in `model.weights` order, with their current values. */
export function namedWeights(model: tfjs.LayersModel): NamedWeight[] {
  return model.weights.map((w) => {
    const dtype = w.dtype;
    if (dtype !== 'float32' && dtype !== 'int32') {
      throw new QnnError('QNN_E_UNSUPPORTED', `weight ${w.originalName} has dtype ${dtype}; only float32 and int32 weights can be written`);
    }
    return { name: w.originalName, shape: w.shape.map((d) => d as number), dtype, values: w.read().dataSync() as Float32Array | Int32Array };
  });
}

/** Little-endian bytes of a typed array (a view, no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Product of a shape's dimensions (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A fresh ArrayBuffer holding exactly these bytes. */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
}

/** A model weight paired with the quantized tensor that replaces it, if any. */
export interface WeightPlan<Q> {
  weight: NamedWeight;
  quantized?: Q;
}

/**
 * Pairs every weight of `model` (in `model.weights` order) with the entry of `tensors` of the same
 * name. Throws QNN_E_VALUE for unknown or repeated names and QNN_E_SHAPE when a tensor's value
 * count does not match its weight.
 */
export function matchQuantized<Q extends { name: string; values: Float32Array }>(model: tfjs.LayersModel, tensors: readonly Q[]): WeightPlan<Q>[] {
  const weights = namedWeights(model);
  const byName = new Map<string, Q>();
  for (const t of tensors) {
    if (byName.has(t.name)) throw new QnnError('QNN_E_VALUE', `quantized tensor '${t.name}' is given twice`);
    const w = weights.find((x) => x.name === t.name);
    if (!w) {
      const names = weights.map((x) => x.name);
      throw new QnnError('QNN_E_VALUE', `the model has no weight named '${t.name}'`, {
        hint: `Use the weights' originalName, e.g. ${names.slice(0, 4).join(', ')}${names.length > 4 ? ', …' : ''}`,
      });
    }
    if (w.dtype !== 'float32') throw new QnnError('QNN_E_VALUE', `weight '${t.name}' is ${w.dtype}; only float32 weights can be quantized`);
    if (t.values.length !== w.values.length) {
      throw new QnnError('QNN_E_SHAPE', `quantized tensor '${t.name}' has ${t.values.length} values, the weight of shape [${w.shape}] has ${w.values.length}`);
    }
    byName.set(t.name, t);
  }
  return weights.map((weight) => ({ weight, quantized: byName.get(weight.name) }));
}
