/**
 * Walking a TF.js layers model (Sequential or functional, residual adds and branches included):
 * which layers are quantized, which stay as they are, and how to capture a layer's inputs in the
 * analog network and in the partially quantized copy.
 */
import type * as tfjs from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import type { ConvLayerSpec } from '../engine/conv';
import type { Tf } from '../tf/runtime';

export type QuantKind = 'dense' | 'conv2d' | 'depthwise';

export interface LayerPlan {
  /** Index in model.layers. */
  index: number;
  name: string;
  className: string;
  kind: QuantKind;
  /** Kernel weight name as stored (e.g. 'dense_1/kernel'). */
  kernelName: string;
  kernelShape: number[];
  /** Per-sample input shape of the layer (without the batch dimension). */
  inputShape: number[];
  /** Conv geometry (conv layers). */
  conv?: { kernel: [number, number]; strides: [number, number]; dilations: [number, number]; padding: 'same' | 'valid' };
}

export interface NetworkPlan {
  /** Layers to quantize, in topological order. */
  quantize: LayerPlan[];
  /** Quantizable layers left in float (by request), with the reason. */
  skipped: Array<{ name: string; className: string; reason: string }>;
  /** Layers with weights that cannot be quantized (kept float only with skipUnsupported). */
  unsupported: Array<{ name: string; className: string }>;
  /** The last quantizable layer when keepLastFloat left it in float (for its bias correction). */
  lastFloat?: LayerPlan;
}

/** Layers without weights, or whose weights are kept as they are (BatchNorm, as in both papers). */
const PASSTHROUGH = new Set([
  'InputLayer', 'Flatten', 'Reshape', 'Permute', 'RepeatVector', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D',
  'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Activation', 'ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'ThresholdedReLU',
  'Softmax', 'BatchNormalization', 'LayerNormalization', 'MaxPooling1D', 'MaxPooling2D', 'AveragePooling1D',
  'AveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D', 'GlobalAveragePooling1D', 'GlobalAveragePooling2D',
  'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum',
  'Concatenate', 'Dot', 'Rescaling', 'CenterCrop', 'Resizing',
]);

function pair(v: unknown, name: string): [number, number] {
  const a = Array.isArray(v) ? v : [v, v];
  if (a.length !== 2 || !a.every((n) => Number.isInteger(n) && n >= 1)) throw new QnnError('QNN_E_MODEL', `bad ${name} ${JSON.stringify(v)}`);
  return [a[0] as number, a[1] as number];
}

function shapeOf(s: tfjs.Shape): number[] {
  return s.slice(1).map((d) => (d === null ? -1 : d));
}

/** Classifies every layer; throws QNN_E_UNSUPPORTED listing unsupported layers unless allowed. */
export function planNetwork(
  model: tfjs.LayersModel,
  opts: { layers?: string[]; skipLayers: string[]; keepLastFloat: boolean; skipUnsupported: boolean },
): NetworkPlan {
  const plan: NetworkPlan = { quantize: [], skipped: [], unsupported: [] };
  const names = new Set(model.layers.map((l) => l.name));
  for (const n of [...(opts.layers ?? []), ...opts.skipLayers]) {
    if (!names.has(n)) {
      throw new QnnError('QNN_E_RANGE', `layer '${n}' is not in the model`, { hint: `its layers are: ${[...names].join(', ')}` });
    }
  }
  model.layers.forEach((layer, index) => {
    const className = layer.getClassName();
    const config = layer.getConfig() as Record<string, unknown>;
    let kind: QuantKind | undefined;
    if (className === 'Dense') kind = 'dense';
    else if (className === 'Conv2D') kind = 'conv2d';
    else if (className === 'DepthwiseConv2D') kind = 'depthwise';
    if (!kind) {
      if (!PASSTHROUGH.has(className) && layer.weights.length > 0) plan.unsupported.push({ name: layer.name, className });
      return;
    }
    if (layer.inboundNodes.length !== 1) {
      plan.unsupported.push({ name: layer.name, className: `${className} (shared by ${layer.inboundNodes.length} call sites)` });
      return;
    }
    if (kind !== 'dense' && config.dataFormat === 'channelsFirst') {
      plan.unsupported.push({ name: layer.name, className: `${className} (channelsFirst)` });
      return;
    }
    const kernel = layer.weights.find((w) => /kernel$/.test(w.originalName));
    if (!kernel) {
      plan.unsupported.push({ name: layer.name, className: `${className} (no kernel)` });
      return;
    }
    const lp: LayerPlan = {
      index,
      name: layer.name,
      className,
      kind,
      kernelName: kernel.originalName,
      kernelShape: kernel.shape.slice() as number[],
      inputShape: shapeOf((layer.input as tfjs.SymbolicTensor).shape),
    };
    if (kind !== 'dense') {
      const padding = config.padding;
      if (padding !== 'same' && padding !== 'valid') {
        plan.unsupported.push({ name: layer.name, className: `${className} (padding '${String(padding)}')` });
        return;
      }
      lp.conv = {
        kernel: pair(config.kernelSize, 'kernelSize'),
        strides: pair(config.strides, 'strides'),
        dilations: pair(config.dilationRate ?? 1, 'dilationRate'),
        padding,
      };
    }
    plan.quantize.push(lp);
  });
  if (plan.unsupported.length && !opts.skipUnsupported) {
    throw new QnnError(
      'QNN_E_UNSUPPORTED',
      `the model has layers with weights that cannot be quantized: ${plan.unsupported.map((u) => `${u.name} (${u.className})`).join(', ')}`,
      { hint: 'Pass --skip-unsupported to keep them in float, or remove them' },
    );
  }
  const keep = (lp: LayerPlan, reason: string) => plan.skipped.push({ name: lp.name, className: lp.className, reason });
  let list = plan.quantize;
  if (opts.layers) {
    const only = new Set(opts.layers);
    list.filter((l) => !only.has(l.name)).forEach((l) => keep(l, 'not selected by --layers'));
    list = list.filter((l) => only.has(l.name));
  }
  const skip = new Set(opts.skipLayers);
  list.filter((l) => skip.has(l.name)).forEach((l) => keep(l, '--skip-layers'));
  list = list.filter((l) => !skip.has(l.name));
  if (opts.keepLastFloat && list.length) {
    plan.lastFloat = list[list.length - 1];
    keep(plan.lastFloat, '--keep-last-float');
    list = list.slice(0, -1);
  }
  plan.quantize = list;
  return plan;
}

/** A float copy of the model with its own weights (becomes the quantized network). */
export async function cloneModel(tf: Tf, model: tfjs.LayersModel): Promise<tfjs.LayersModel> {
  const copy = await tf.models.modelFromJSON({ modelTopology: model.toJSON(undefined, false) as tfjs.io.ModelJSON['modelTopology'] });
  copy.setWeights(model.getWeights());
  return copy;
}

/** Sub-model from the model input to the input of layer `index` (null: the layer reads the model input). */
export function captureModel(tf: Tf, model: tfjs.LayersModel, index: number): tfjs.LayersModel | null {
  const layer = model.layers[index];
  const input = layer.input as tfjs.SymbolicTensor;
  if (model.inputs.includes(input)) return null;
  return tf.model({ inputs: model.inputs, outputs: input });
}

/** Replaces the kernel of layer `index` (other weights, e.g. the bias, stay). */
export function setKernel(tf: Tf, model: tfjs.LayersModel, index: number, kernelName: string, values: Float32Array): void {
  const layer = model.layers[index];
  const ws = layer.getWeights();
  const at = layer.weights.findIndex((w) => w.originalName === kernelName);
  const shape = ws[at].shape;
  const next = ws.map((w, i) => (i === at ? tf.tensor(values, shape, 'float32') : w));
  layer.setWeights(next);
  next[at].dispose();
}

/** The current kernel values of layer `index`. */
export function getKernel(model: tfjs.LayersModel, index: number, kernelName: string): Float32Array {
  const layer = model.layers[index];
  const at = layer.weights.findIndex((w) => w.originalName === kernelName);
  return Float32Array.from(layer.getWeights()[at].dataSync());
}
