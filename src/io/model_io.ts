/**
 * TF.js layers models on the local file system. TF.js without tfjs-node has no `file://` handler
 * (ENVIRONMENT.md §1.3), so this module provides one: {@link fileIO} is a `tf.io.IOHandler` that
 * reads `model.json` + weight shards (any number of groups and shards, weights quantized in the
 * manifest included; decoding is TF.js's own) and writes them atomically. {@link loadModel} also
 * dispatches Keras `.h5` files and qnn-native packed and INQ directories to their loaders.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import { getTf } from '../tf/runtime';
import { loadKerasH5 } from './h5';
import { loadInq } from './inq';
import { MODEL_JSON, modelFromArtifacts, readModelJson, sizeOf, statOrUndefined, toArrayBuffer, writeDirAtomic, type ModelJsonLocation, type OutputFile } from './internal';
import { loadPacked } from './packed';

/** Name of the single weight file written when no `shardBytes` is given. */
export const WEIGHTS_BIN = 'weights.bin';

/** Options for writing a model directory. */
export interface SaveOptions {
  /** Stored as `userDefinedMetadata` in model.json. */
  metadata?: Record<string, unknown>;
  /**
   * Split the weights into shards of at most this many bytes, named like the TF.js converter's
   * `group1-shard1ofN.bin`. Default: one file, `weights.bin`.
   */
  shardBytes?: number;
  /** Replace an existing non-empty output directory (default false: QNN_E_EXISTS). */
  overwrite?: boolean;
}

/** The parts of a layers model that {@link writeLayersModelDir} turns into files. */
export interface LayersModelParts {
  modelTopology: object;
  weightSpecs: tfjs.io.WeightsManifestEntry[];
  /** All weight bytes, back to back in `weightSpecs` order. */
  weightData: Uint8Array;
  generatedBy?: string;
  trainingConfig?: tfjs.io.TrainingConfig;
  userDefinedMetadata?: Record<string, unknown>;
}

const VALUE_BYTES = new Map<string | undefined, number>([
  ['float32', 4],
  ['int32', 4],
  ['bool', 1],
  ['uint8', 1],
  ['uint16', 2],
  ['float16', 2],
]);

/**
 * Writes `dir/model.json` and the weight shard(s) atomically (see {@link SaveOptions}), with
 * `format: 'layers-model'` and `convertedBy: 'qnn-native'`. Returns the written file names.
 */
export async function writeLayersModelDir(dir: string, parts: LayersModelParts, opts: SaveOptions = {}): Promise<string[]> {
  if (path.extname(dir).toLowerCase() === '.json') {
    throw new QnnError('QNN_E_VALUE', `${dir}: models are written as a directory (model.json + weights)`, { hint: `Pass the directory, e.g. ${path.dirname(dir)}` });
  }
  const total = parts.weightData.byteLength;
  let names = [WEIGHTS_BIN];
  if (opts.shardBytes !== undefined) {
    if (!Number.isInteger(opts.shardBytes) || opts.shardBytes < 1) {
      throw new QnnError('QNN_E_RANGE', `shardBytes must be a positive integer (got ${opts.shardBytes})`, { hint: 'The TF.js converter uses 4194304 (4 MiB)' });
    }
    const n = Math.max(1, Math.ceil(total / opts.shardBytes));
    names = Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`);
  }
  const step = opts.shardBytes ?? Math.max(total, 1);
  const files: OutputFile[] = names.map((name, i) => ({ name, data: parts.weightData.subarray(i * step, Math.min(total, (i + 1) * step)) }));
  const metadata = parts.userDefinedMetadata || opts.metadata ? { ...parts.userDefinedMetadata, ...opts.metadata } : undefined;
  const modelJson: tfjs.io.ModelJSON = {
    modelTopology: parts.modelTopology,
    format: 'layers-model',
    generatedBy: parts.generatedBy ?? 'qnn-native',
    convertedBy: 'qnn-native',
    weightsManifest: [{ paths: names, weights: parts.weightSpecs }],
    ...(parts.trainingConfig ? { trainingConfig: parts.trainingConfig } : {}),
    ...(metadata ? { userDefinedMetadata: metadata as tfjs.io.ModelJSON['userDefinedMetadata'] } : {}),
  };
  // model.json goes last: a directory with a model.json is always complete.
  files.push({ name: MODEL_JSON, data: JSON.stringify(modelJson) });
  await writeDirAtomic(dir, files, { overwrite: opts.overwrite });
  return files.map((f) => f.name);
}

function manifestError(jsonPath: string, what: string): QnnError {
  return new QnnError('QNN_E_MODEL', `${jsonPath}: ${what}`, { hint: 'The weightsManifest is malformed; export the model again' });
}

/** Byte count a manifest entry needs: prod(shape) × bytes of its stored (quantization) dtype. */
function entryBytes(w: tfjs.io.WeightsManifestEntry, jsonPath: string): number {
  const label = `weight '${String(w?.name)}'`;
  if (!w || typeof w.name !== 'string') throw manifestError(jsonPath, 'a weightsManifest entry has no name');
  if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) throw manifestError(jsonPath, `${label} has an invalid shape`);
  let stored: string | undefined = w.dtype;
  if ('quantization' in w) {
    // TF.js tests for the key, so `quantization: null` must be refused too.
    const q = w.quantization ?? { dtype: undefined, scale: undefined, min: undefined };
    stored = q.dtype;
    if (stored !== 'uint8' && stored !== 'uint16' && stored !== 'float16') {
      throw manifestError(jsonPath, `${label} has quantization dtype '${String(stored)}' (supported: uint8, uint16, float16)`);
    }
    if (stored !== 'float16' && !(Number.isFinite(q.scale) && Number.isFinite(q.min))) {
      throw manifestError(jsonPath, `${label} is quantized as ${stored} but lacks a numeric scale and min`);
    }
  }
  const bytes = VALUE_BYTES.get(stored);
  if (bytes === undefined) throw manifestError(jsonPath, `${label} has unsupported dtype '${String(stored)}'`);
  return sizeOf(w.shape) * bytes;
}

/**
 * Reads a layers-model directory into TF.js artifacts, validating first: the topology exists,
 * every shard exists (QNN_E_IO), and the shards hold exactly the bytes the manifest needs
 * (QNN_E_MODEL). Quantized manifest entries are decoded later by TF.js itself.
 */
async function loadArtifacts({ jsonPath, dir, json }: ModelJsonLocation): Promise<tfjs.io.ModelArtifacts> {
  if (json.qnnPacked !== undefined) {
    throw new QnnError('QNN_E_MODEL', `${jsonPath} is a qnn-native packed model, which stock TF.js cannot read`, { hint: 'Load it with loadModel() or loadPacked()' });
  }
  if (json.qnnInq !== undefined) {
    throw new QnnError('QNN_E_MODEL', `${jsonPath} is a qnn-native INQ model, which stock TF.js cannot read`, { hint: 'Load it with loadModel() or loadInq()' });
  }
  if (json.modelTopology === null || typeof json.modelTopology !== 'object') {
    throw new QnnError('QNN_E_MODEL', `${jsonPath} has no modelTopology`, { hint: 'Only TF.js layers models are supported; export the model again' });
  }
  const modelJson = json as unknown as tfjs.io.ModelJSON;
  if (modelJson.weightsManifest === undefined) return (await getTf()).io.getModelArtifactsForJSON(modelJson, async () => [[], new ArrayBuffer(0)]);
  const manifest = modelJson.weightsManifest;
  if (!Array.isArray(manifest) || !manifest.every((g) => g && Array.isArray(g.paths) && Array.isArray(g.weights))) {
    throw manifestError(jsonPath, 'weightsManifest must be a list of {paths: [...], weights: [...]}');
  }
  const specs = manifest.flatMap((g) => g.weights);
  const needed = specs.reduce((s, w) => s + entryBytes(w, jsonPath), 0);
  const shards = manifest.flatMap((g) => g.paths.map((rel) => path.resolve(dir, rel)));
  let have = 0;
  for (const shard of shards) {
    const st = await statOrUndefined(shard);
    if (!st || !st.isFile()) {
      throw new QnnError('QNN_E_IO', `weight file ${shard} (listed in ${jsonPath}) not found`, { hint: 'Copy every shard listed in weightsManifest next to model.json' });
    }
    have += st.size;
  }
  if (have !== needed) {
    const which = shards.length === 1 ? path.basename(shards[0]) : `the ${shards.length} weight files (${shards.map((s) => path.basename(s)).join(', ')})`;
    throw new QnnError('QNN_E_MODEL', `${which} in ${dir} ${shards.length === 1 ? 'has' : 'have'} ${have} bytes but model.json needs ${needed}`, {
      hint: 'The weight files are truncated or belong to another model.json; copy them again or export the model again',
    });
  }
  const data = toArrayBuffer(Buffer.concat(await Promise.all(shards.map((s) => fsp.readFile(s)))));
  return (await getTf()).io.getModelArtifactsForJSON(modelJson, async () => [specs, data]);
}

/**
 * A `tf.io.IOHandler` for a local path. `load` accepts a model directory or the path of its
 * model.json; `save` writes the directory `p` (see {@link SaveOptions}). Use it with
 * `tf.loadLayersModel(fileIO(p))` and `model.save(fileIO(p))`.
 */
export function fileIO(p: string, opts: SaveOptions = {}): tfjs.io.IOHandler {
  return {
    load: async () => loadArtifacts(await readModelJson(p)),
    save: async (artifacts: tfjs.io.ModelArtifacts): Promise<tfjs.io.SaveResult> => {
      if (artifacts.modelTopology instanceof ArrayBuffer || !artifacts.modelTopology) {
        throw new QnnError('QNN_E_UNSUPPORTED', `cannot save to ${p}: only models with a JSON topology (layers models) can be saved`);
      }
      const chunks = artifacts.weightData === undefined ? [] : Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData];
      const weightData = new Uint8Array(Buffer.concat(chunks.map((c) => new Uint8Array(c))));
      const parts: LayersModelParts = {
        modelTopology: artifacts.modelTopology,
        weightSpecs: artifacts.weightSpecs ?? [],
        weightData,
        generatedBy: artifacts.generatedBy,
        trainingConfig: artifacts.trainingConfig,
        userDefinedMetadata: artifacts.userDefinedMetadata,
      };
      await writeLayersModelDir(p, parts, opts);
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: Buffer.byteLength(JSON.stringify(artifacts.modelTopology)),
          weightSpecsBytes: Buffer.byteLength(JSON.stringify(parts.weightSpecs)),
          weightDataBytes: weightData.byteLength,
        },
      };
    },
  };
}

/**
 * Loads a model for quantization from any supported path: a TF.js layers-model directory or its
 * model.json (shards and quantized manifests included), a qnn-native packed or INQ directory, or
 * a Keras HDF5 file (`.h5`, `.hdf5`, `.keras.h5`). Errors name the path and the fix.
 */
export async function loadModel(p: string): Promise<tfjs.LayersModel> {
  const lower = p.toLowerCase();
  if (lower.endsWith('.h5') || lower.endsWith('.hdf5')) return loadKerasH5(p);
  if (lower.endsWith('.keras')) {
    throw new QnnError('QNN_E_UNSUPPORTED', `${p} is a Keras 3 .keras archive, which cannot be read here`, {
      hint: "Save the model in Keras as HDF5 (model.save('model.h5')) or convert it with tensorflowjs_converter",
    });
  }
  const loc = await readModelJson(p);
  if (loc.json.qnnPacked !== undefined) return loadPacked(loc.dir);
  if (loc.json.qnnInq !== undefined) return loadInq(loc.dir);
  return modelFromArtifacts(await loadArtifacts(loc), loc.jsonPath);
}

/**
 * Saves `model` as a TF.js layers-model directory `dir` (model.json + weights, float32), atomically.
 * Refuses to replace an existing non-empty directory unless `overwrite`.
 */
export async function saveModel(model: tfjs.LayersModel, dir: string, opts: SaveOptions = {}): Promise<void> {
  await model.save(fileIO(dir, opts));
}
