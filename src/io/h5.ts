/**
 * Keras HDF5 (`.h5`) models through h5wasm (ENVIRONMENT.md §1.5): the root attribute
 * `model_config` (Keras 2 or Keras 3 JSON, the latter shimmed into what tfjs-layers 4.22 reads)
 * is built with `tf.models.modelFromJSON`, then each layer listed in `model_weights`
 * (`layer_names`, also chunked as `layer_names0`, `layer_names1`, …) gets its datasets, in
 * `weight_names` order, through `setWeights`. Weights-only files (layer groups at the root) load
 * into an existing model with {@link loadKerasH5Weights}. {@link saveKerasH5} writes a
 * Keras-2-style file, so fixtures need no Python.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import * as vm from 'vm';

import type * as tfjs from '@tensorflow/tfjs';
import type * as H5 from 'h5wasm';

import { QnnError, toQnnError } from '../errors';
import { getTf } from '../tf/runtime';
import { checkLayerClasses, checkOutputDir, isObj, statOrUndefined, type Json } from './internal';

/** The h5wasm module namespace (`h5wasm/node`, with the file system of the host). */
export type H5wasm = typeof H5;

// TypeScript with module=commonjs rewrites `import()` to `require()`, which h5wasm (ESM only,
// no "require" export) rejects; a Function body is left alone.
const dynamicImport = new Function('s', 'return import(s)') as (s: string) => Promise<unknown>;

/**
 * `import(spec)` from CommonJS. Inside a vm context without an import callback (jest without
 * `--experimental-vm-modules`), falls back to Node's main-context ESM loader; the module then
 * lives in the main realm, which is why this file copies every array it reads from h5wasm.
 */
async function importEsm(spec: string): Promise<unknown> {
  try {
    return await dynamicImport(spec);
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    const loader = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
    if (!code.startsWith('ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING') || loader === undefined) throw e;
    const script = new vm.Script('(s) => import(s)', { filename: __filename, importModuleDynamically: loader });
    return (script.runInThisContext() as (s: string) => Promise<unknown>)(spec);
  }
}

let loading: Promise<H5wasm> | undefined;

/** The h5wasm module, loaded and initialised once. QNN_E_UNSUPPORTED when it cannot be loaded. */
export function h5wasm(): Promise<H5wasm> {
  if (!loading) {
    loading = (async () => {
      const mod = (await importEsm('h5wasm/node')) as H5wasm;
      await mod.ready;
      return mod;
    })().catch((e) => {
      loading = undefined;
      throw new QnnError('QNN_E_UNSUPPORTED', `cannot load h5wasm, needed for Keras .h5 files (${(e as Error).message})`, {
        cause: e,
        hint: 'Install it with `npm install h5wasm@0.10.3`',
      });
    });
  }
  return loading;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Throws QNN_E_IO when `file` is missing and QNN_E_MODEL when it has no HDF5 signature (at 0,
 * 512, 1024, … as HDF5 allows), before h5wasm sees it: h5wasm would open a missing file without
 * complaint and print pages of diagnostics for a foreign one.
 */
async function checkHdf5File(file: string): Promise<void> {
  const st = await statOrUndefined(file);
  if (!st || !st.isFile()) throw new QnnError('QNN_E_IO', `${file} not found`, { hint: 'Pass the path of a Keras .h5 file' });
  const fh = await fsp.open(file, 'r');
  try {
    const sig = Buffer.alloc(8);
    for (let off = 0; off + 8 <= st.size; off = off === 0 ? 512 : off * 2) {
      await fh.read(sig, 0, 8, off);
      if (sig.equals(HDF5_SIGNATURE)) return;
    }
  } finally {
    await fh.close();
  }
  throw new QnnError('QNN_E_MODEL', `${file} is not an HDF5 file`, { hint: 'Pass a Keras model saved as HDF5 (model.save("model.h5"))' });
}

/** An attribute as text (h5wasm gives strings; byte arrays are decoded as UTF-8). */
function attrText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  return undefined;
}

/** A string-list attribute, also when Keras split it into `name0`, `name1`, … (> 64 KB). */
function listAttr(obj: H5.Group, name: string): string[] | undefined {
  const attrs = obj.attrs;
  const read = (key: string): string[] => {
    const v = attrs[key].value;
    // An empty list is stored as an empty numeric array (numpy's default dtype when Keras writes []).
    if (ArrayBuffer.isView(v) && v.byteLength === 0) return [];
    return (Array.isArray(v) ? v : [v]).map((x) => attrText(x) ?? String(x));
  };
  if (name in attrs) return read(name);
  if (!(`${name}0` in attrs)) return undefined;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...read(`${name}${i}`));
  return out;
}

/** Inbound node of a Keras 3 functional config → tfjs/Keras 2 `[[layer, node, tensor, {}], …]`. */
function keras3Node(node: Json): unknown[] {
  const out: unknown[] = [];
  const collect = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (isObj(v) && v.class_name === '__keras_tensor__' && isObj(v.config) && Array.isArray(v.config.keras_history)) {
      const [layer, nodeIndex, tensorIndex] = v.config.keras_history as [string, number, number];
      out.push([layer, nodeIndex, tensorIndex, {}]);
    } else if (isObj(v)) Object.values(v).forEach(collect);
  };
  collect(node.args);
  return out;
}

/**
 * Rewrites a Keras 3 model config into the Keras 2 form tfjs-layers 4.22 reads: `batch_shape` →
 * `batch_input_shape`, DTypePolicy objects → their name, `module`/`registered_name` dropped,
 * `{args, kwargs}` inbound nodes → `[layer, node, tensor, {}]` lists, and a single
 * `input_layers`/`output_layers` triple wrapped in a list. Keras 2 configs pass through unchanged.
 */
function shimKerasConfig(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shimKerasConfig);
  if (!isObj(v)) return v;
  if (typeof v.class_name === 'string' && /(^|DType)Policy$/.test(v.class_name) && isObj(v.config) && typeof v.config.name === 'string') {
    return v.config.name;
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(v)) {
    if ((key === 'module' || key === 'registered_name') && 'class_name' in v) continue;
    if (key === 'batch_shape' && !('batch_input_shape' in v)) out.batch_input_shape = value;
    else if (key === 'inbound_nodes' && Array.isArray(value)) out[key] = value.map((n) => (isObj(n) && 'args' in n ? keras3Node(n) : shimKerasConfig(n)));
    else if ((key === 'input_layers' || key === 'output_layers') && Array.isArray(value) && typeof value[0] === 'string') out[key] = [value];
    else out[key] = shimKerasConfig(value);
  }
  return out;
}

/** A dataset as float32 values of the current realm (see {@link importEsm}) with its shape. */
function readDataset(h5: H5wasm, group: H5.Group, name: string, where: string): { values: Float32Array; shape: number[] } {
  const ds = group.get(name);
  if (!(ds instanceof h5.Dataset)) throw new QnnError('QNN_E_MODEL', `${where}: dataset '${name}' listed in weight_names is missing`, { hint: 'The file is incomplete; save it again' });
  const v = ds.value;
  const shape = ds.shape ?? [];
  if (typeof v === 'number') return { values: Float32Array.of(v), shape };
  if (!ArrayBuffer.isView(v) || v.constructor.name.startsWith('Big')) {
    throw new QnnError('QNN_E_UNSUPPORTED', `${where}: dataset '${name}' has type ${JSON.stringify(ds.dtype)}, not a float or integer array`);
  }
  return { values: Float32Array.from(v as unknown as ArrayLike<number>), shape };
}

/** The weights of one layer in a file, in `weight_names` order. */
interface LayerWeights {
  names: string[];
  tensors: { values: Float32Array; shape: number[] }[];
}

/** Layers of a weights group by name (layers without weights left out). */
function readLayerWeights(h5: H5wasm, root: H5.Group, file: string): Map<string, LayerWeights> {
  const layerNames = listAttr(root, 'layer_names');
  if (!layerNames) {
    throw new QnnError('QNN_E_MODEL', `${file} has no layer_names attribute`, { hint: 'It is not a Keras model or weights file; save it from Keras with model.save() or model.save_weights()' });
  }
  const out = new Map<string, LayerWeights>();
  for (const layer of layerNames) {
    const g = root.get(layer);
    if (!(g instanceof h5.Group)) throw new QnnError('QNN_E_MODEL', `${file}: group for layer '${layer}' (listed in layer_names) is missing`);
    const names = listAttr(g, 'weight_names') ?? [];
    if (names.length === 0) continue;
    out.set(layer, { names, tensors: names.map((n) => readDataset(h5, g, n, `${file}, layer '${layer}'`)) });
  }
  return out;
}

/**
 * Sets the weights of `model` from a weights group: by layer name when every layer of the file
 * exists in the model, else by position among the layers that have weights (Keras's own
 * `load_weights` rule). Counts and shapes must match.
 */
async function assignWeights(model: tfjs.LayersModel, file: string, weights: Map<string, LayerWeights>): Promise<void> {
  const tf = await getTf();
  const targets = model.layers.filter((l) => l.weights.length > 0);
  const fileLayers = [...weights.keys()];
  const byName = fileLayers.every((n) => targets.some((l) => l.name === n));
  if (!byName && fileLayers.length !== targets.length) {
    const missing = fileLayers.find((n) => !targets.some((l) => l.name === n));
    throw new QnnError('QNN_E_MODEL', `${file}: layer '${missing}' has weights but the model has no layer of that name, and the file has ${fileLayers.length} layers with weights where the model has ${targets.length}`, {
      hint: 'The weights belong to another architecture',
    });
  }
  for (let i = 0; i < targets.length; i++) {
    const layer = targets[i];
    const entry = byName ? weights.get(layer.name) : weights.get(fileLayers[i]);
    if (!entry) throw new QnnError('QNN_E_MODEL', `${file} has no weights for layer '${layer.name}'`, { hint: 'The weights belong to another architecture' });
    if (entry.tensors.length !== layer.weights.length) {
      throw new QnnError('QNN_E_MODEL', `${file}: layer '${layer.name}' expects ${layer.weights.length} weights, the file has ${entry.tensors.length} (${entry.names.join(', ')})`);
    }
    entry.tensors.forEach((t, k) => {
      const want = layer.weights[k].shape;
      if (t.shape.length !== want.length || t.shape.some((d, j) => d !== want[j])) {
        throw new QnnError('QNN_E_SHAPE', `${file}: weight '${entry.names[k]}' of layer '${layer.name}' has shape [${t.shape}], the model needs [${want}]`);
      }
    });
    const tensors = entry.tensors.map((t) => tf.tensor(t.values, t.shape));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

/** Sets the weights of `model` from `model_weights` (whole-model file) or the root (weights-only file). */
function assignFromFile(h5: H5wasm, f: H5.File, model: tfjs.LayersModel, file: string): Promise<void> {
  const root = f.get('model_weights');
  return assignWeights(model, file, readLayerWeights(h5, root instanceof h5.Group ? root : f, file));
}

/** Opens `file` read-only with h5wasm, runs `fn`, and closes it; h5wasm failures become QNN_E_MODEL. */
async function withH5File<T>(file: string, fn: (h5: H5wasm, f: H5.File) => Promise<T>): Promise<T> {
  await checkHdf5File(file);
  const h5 = await h5wasm();
  let f: H5.File;
  try {
    f = new h5.File(path.resolve(file), 'r');
  } catch (e) {
    throw new QnnError('QNN_E_MODEL', `${file} cannot be opened as HDF5 (${e instanceof Error ? e.message : String(e)})`, { cause: e, hint: 'The file is corrupt or truncated' });
  }
  try {
    return await fn(h5, f);
  } catch (e) {
    if (e instanceof QnnError) throw e;
    throw new QnnError('QNN_E_MODEL', `${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, hint: 'The file is corrupt or not a Keras model' });
  } finally {
    f.close();
  }
}

/**
 * Loads a Keras HDF5 model (architecture + weights), Keras 2 or Keras 3 (legacy `.h5` format).
 * A weights-only file gives QNN_E_MODEL pointing to {@link loadKerasH5Weights}.
 */
export async function loadKerasH5(file: string): Promise<tfjs.LayersModel> {
  const tf = await getTf();
  return withH5File(file, async (h5, f) => {
    const text = 'model_config' in f.attrs ? attrText(f.attrs.model_config.value) : undefined;
    if (text === undefined) {
      throw new QnnError('QNN_E_MODEL', `${file} holds weights only (no model_config attribute)`, {
        hint: "Save the whole model in Keras (model.save('model.h5')), or build the model and call loadKerasH5Weights(model, file)",
      });
    }
    let config: unknown;
    try {
      config = JSON.parse(text);
    } catch (e) {
      throw new QnnError('QNN_E_MODEL', `${file}: model_config is not valid JSON (${(e as Error).message})`, { cause: e });
    }
    const topology = shimKerasConfig(config) as tfjs.serialization.ConfigDict;
    await checkLayerClasses(topology, file);
    let model: tfjs.LayersModel;
    try {
      model = await tf.models.modelFromJSON({ modelTopology: topology });
    } catch (e) {
      throw new QnnError('QNN_E_MODEL', `${file}: TF.js cannot build the model from model_config (${(e as Error).message})`, { cause: e });
    }
    await assignFromFile(h5, f, model, file);
    return model;
  });
}

/**
 * Sets the weights of `model` from a Keras `.h5` file: a whole-model file (`model_weights`) or a
 * weights-only file (`model.save_weights`, layer groups at the root).
 */
export async function loadKerasH5Weights(model: tfjs.LayersModel, file: string): Promise<void> {
  await withH5File(file, (h5, f) => assignFromFile(h5, f, model, file));
}

/** `parent/name`, creating the group when missing (h5wasm does not create intermediate groups). */
function ensureGroup(h5: H5wasm, parent: H5.Group, name: string): H5.Group {
  const g = parent.get(name);
  return g instanceof h5.Group ? g : parent.create_group(name);
}

/**
 * Writes `model` as a Keras-2-style HDF5 file: root attributes `keras_version`, `backend`,
 * `model_config`; group `model_weights` with `layer_names` and, per layer, `weight_names` and
 * float32 datasets `model_weights/<layer>/<weight>:0` (e.g. `dense/dense/kernel:0`). Written to a
 * temporary file next to `file` and renamed into place. Refuses to replace `file` unless `overwrite`.
 */
export async function saveKerasH5(model: tfjs.LayersModel, file: string, opts: { overwrite?: boolean } = {}): Promise<void> {
  const target = path.resolve(file);
  await checkOutputDir(target, opts.overwrite);
  const h5 = await h5wasm();
  const config = model.toJSON(null, false) as Json;
  const kerasVersion = String(config.keras_version ?? 'tfjs-layers');
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Date.now()}`);
  try {
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const f = new h5.File(tmp, 'w');
    try {
      f.create_attribute('keras_version', kerasVersion);
      f.create_attribute('backend', 'tensorflow');
      f.create_attribute('model_config', JSON.stringify(config));
      const mw = f.create_group('model_weights');
      mw.create_attribute('keras_version', kerasVersion);
      mw.create_attribute('backend', 'tensorflow');
      mw.create_attribute('layer_names', model.layers.map((l) => l.name), [model.layers.length], 'S');
      for (const layer of model.layers) {
        const g = mw.create_group(layer.name);
        const names = layer.weights.map((w) => `${w.originalName}:0`);
        // Empty string arrays make HDF5 complain; Keras itself stores [] as an empty numeric array.
        if (names.length === 0) g.create_attribute('weight_names', []);
        else g.create_attribute('weight_names', names, [names.length], 'S');
        layer.weights.forEach((w, k) => {
          const parts = names[k].split('/');
          const leaf = parts.pop() as string;
          const parent = parts.reduce((p, n) => ensureGroup(h5, p, n), g);
          parent.create_dataset({ name: leaf, data: Float32Array.from(w.read().dataSync()), shape: w.shape as number[], dtype: '<f' });
        });
      }
    } finally {
      f.close();
    }
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw toQnnError(e, `writing ${target}`);
  }
}
