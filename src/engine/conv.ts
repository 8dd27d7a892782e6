/**
 * Conv layers on top of the dense engine: im2col, geometry, and GPFQ of Conv2D (whole-filter,
 * Lybrand channel-parallel, ZZS), DepthwiseConv2D and grouped convolutions. Each column group of
 * the patches is an independent dense problem whose neurons are (a slice of) the output channels.
 */
import { QnnError, toQnnError } from '../errors';
import { ConvGeometry, im2colRowsRef } from '../reference/im2col';
import { BackendChoice, binding, resolveBackend } from './backend';
import { ConvPatchOptions, PatchMode, toConvSpecs } from './conv_spec';
import { gpfq, GpfqOptions, GpfqResult } from './gpfq';
import { gptq } from '../methods/gptq';
import { GramAccumulator } from './gram';
import { mixSeed } from '../util/rng';
import { checkF32, checkInt, checkOneOf, checkOptions } from './validate';

export type { ConvPatchOptions, PatchMode };

/** Patch geometry of a conv layer input (output grid, rows per image, columns per group). */
export function convGeometry(opts: ConvPatchOptions): ConvGeometry {
  return toConvSpecs(opts).geometry;
}

export interface Im2colOptions extends ConvPatchOptions {
  /** NHWC input batch. */
  input: Float32Array;
  /** First patch row and row count (default: all rows of the batch). */
  row0?: number;
  rows?: number;
  backend?: BackendChoice;
  threads?: number;
}

export interface Im2colResult {
  /** rows x cols, row-major; group g's columns are [g·colsPerGroup, (g+1)·colsPerGroup). */
  patches: Float32Array;
  rows: number;
  cols: number;
  groups: number;
  geometry: ConvGeometry;
}

/** Patch rows of an NHWC batch (TF conv semantics); patches · reshape(kernel, [kh·kw·Cin, F]) == conv2d. */
export async function im2col(opts: Im2colOptions): Promise<Im2colResult> {
  const o = checkOptions(opts, 'im2col options');
  const { ref, native: spec, geometry } = toConvSpecs(opts);
  const x = checkF32('input', o.input, ref.n * ref.h * ref.w * ref.c);
  const total = geometry.rowsPerImage * ref.n;
  const row0 = o.row0 === undefined ? 0 : checkInt('row0', o.row0, 0, total);
  const rows = o.rows === undefined ? total - row0 : checkInt('rows', o.rows, 0, total - row0);
  const backend = resolveBackend(o.backend as BackendChoice | undefined);
  if (backend === 'js') {
    return { patches: im2colRowsRef(ref, geometry, x, row0, rows), rows, cols: geometry.cols, groups: ref.groups, geometry };
  }
  try {
    const r = await binding().im2col({ x, spec, row0, rows, threads: o.threads as number | undefined, backend: backend === 'cuda' ? 'cuda' : 'cpu' });
    return { patches: r.patches, rows, cols: geometry.cols, groups: ref.groups, geometry };
  } catch (e) {
    throw toQnnError(e);
  }
}

export type ConvLayerKind = 'conv2d' | 'depthwise';

export interface ConvLayout {
  /** Column groups of the patches (and Gram blocks). */
  groups: number;
  /** Columns (inputs) per group. */
  d: number;
  /** Neurons per group. */
  n1: number;
  /** Output channels of the layer. */
  outChannels: number;
}

export interface ConvLayerSpec {
  layer?: ConvLayerKind;
  /** [kh, kw, cin/groups, cout] (conv2d) or [kh, kw, cin, depthMultiplier] (depthwise). */
  kernelShape: readonly number[];
  /** conv2d groups (default 1). */
  groups?: number;
  /** conv2d only: 'filter' (default), 'channel' (Lybrand) or 'zzs'. Depthwise is always per channel. */
  mode?: PatchMode;
  order?: 'hwc' | 'chw';
}

function layerSpec(s: ConvLayerSpec) {
  const layer = checkOneOf('layer', s.layer, ['conv2d', 'depthwise'] as const, 'conv2d');
  const ks = s.kernelShape as unknown;
  if (!Array.isArray(ks) || ks.length !== 4) throw new QnnError('QNN_E_SHAPE', '`kernelShape` must be [kh, kw, cin, cout]');
  const [kh, kw, c2, c3] = ks.map((v, i) => checkInt(`kernelShape[${i}]`, v, 1));
  const groups = s.groups === undefined ? 1 : checkInt('groups', s.groups, 1);
  const mode = checkOneOf('mode', s.mode, ['filter', 'channel', 'zzs'] as const, 'filter');
  const order = checkOneOf('order', s.order, ['hwc', 'chw'] as const, 'hwc');
  if (layer === 'depthwise' && groups !== 1) throw new QnnError('QNN_E_RANGE', 'depthwise layers take no `groups`');
  if (mode === 'channel' && groups !== 1) throw new QnnError('QNN_E_RANGE', "mode 'channel' is for ungrouped Conv2D");
  if (c3 % groups !== 0) throw new QnnError('QNN_E_SHAPE', `output channels (${c3}) must be divisible by groups (${groups})`);
  return { layer, kh, kw, c2, c3, groups, mode, order, kk: kh * kw };
}

/** How a conv layer splits into dense problems: patch groups, inputs and neurons per group. */
export function convLayout(s: ConvLayerSpec): ConvLayout {
  const L = layerSpec(s);
  if (L.layer === 'depthwise') return { groups: L.c2, d: L.kk, n1: L.c3, outChannels: L.c2 * L.c3 };
  if (L.mode === 'channel') return { groups: L.c2, d: L.kk, n1: L.c3, outChannels: L.c3 };
  return { groups: L.groups, d: L.kk * L.c2, n1: L.c3 / L.groups, outChannels: L.c3 };
}

/** Kernel-array index of (group g, row r, neuron j), and the output channel neuron j feeds. */
function indexer(s: ConvLayerSpec) {
  const L = layerSpec(s);
  const lay = convLayout(s);
  return {
    lay,
    channelMode: L.layer === 'conv2d' && L.mode === 'channel',
    at(g: number, r: number, j: number): number {
      if (L.layer === 'depthwise') return (r * L.c2 + g) * L.c3 + j; // [k][c][mult]
      if (L.mode === 'channel') return (r * L.c2 + g) * L.c3 + j; // [k][c][f]
      const k = L.order === 'chw' ? r % L.kk : Math.floor(r / L.c2);
      const c = L.order === 'chw' ? Math.floor(r / L.kk) : r % L.c2;
      return (k * L.c2 + c) * L.c3 + g * lay.n1 + j;
    },
    out(g: number, j: number): number {
      if (L.layer === 'depthwise') return g * L.c3 + j;
      if (L.mode === 'channel') return j;
      return g * lay.n1 + j;
    },
  };
}

/**
 * E[patch]·W per output channel: the mean pre-activation output (without bias) of a conv layer
 * whose patches have column means `means[g]` (one Float64Array of d per group, e.g. from
 * GramAccumulator.matrices(g).meanX). Used for bias correction.
 */
export function convOutputMeans(kernel: Float32Array, s: ConvLayerSpec, means: readonly Float64Array[]): Float64Array {
  const ix = indexer(s);
  const { groups, d, n1, outChannels } = ix.lay;
  if (means.length !== groups || means.some((m) => m.length !== d)) {
    throw new QnnError('QNN_E_SHAPE', `convOutputMeans needs ${groups} mean vector(s) of ${d} values`);
  }
  const out = new Float64Array(outChannels);
  for (let g = 0; g < groups; g++) {
    for (let r = 0; r < d; r++) {
      const m = means[g][r];
      if (m === 0) continue;
      for (let j = 0; j < n1; j++) out[ix.out(g, j)] += m * kernel[ix.at(g, r, j)];
    }
  }
  return out;
}

/** Group g's weight matrix (d x n1, Keras layout) from the kernel. */
export function groupWeights(kernel: Float32Array, s: ConvLayerSpec, g: number): Float32Array {
  const ix = indexer(s);
  const { d, n1 } = ix.lay;
  const out = new Float32Array(d * n1);
  for (let r = 0; r < d; r++) for (let j = 0; j < n1; j++) out[r * n1 + j] = kernel[ix.at(g, r, j)];
  return out;
}

export interface QuantizeConvOptions extends Omit<GpfqOptions, 'weights' | 'n0' | 'n1' | 'x' | 'xq' | 'm' | 'gram'>, ConvLayerSpec {
  /** The layer kernel, TF layout. */
  kernel: Float32Array;
  /** Per-group dense solver: GPFQ (default) or the GPTQ baseline on the same Gram matrices. */
  solver?: 'gpfq' | 'gptq';
  /** GPTQ settings (solver 'gptq'): lazy block size, dampening, act-order. */
  gptq?: { blockSize?: number; percDamp?: number; actOrder?: boolean };
  /** Gram matrices accumulated with matching patches (groups and d from convLayout()). */
  gram?: GramAccumulator;
  /** Or raw NHWC inputs for the direct form (patches are materialised: small layers only). */
  inputs?: { x: Float32Array; xq?: Float32Array; patch: ConvPatchOptions };
}

export interface QuantizeConvResult {
  /** Codes and quantized weights in the kernel layout. */
  codes: Int32Array;
  q: Float32Array;
  /** Per output channel ||X w − X~ q|| and its ratio to ||X w||. In Lybrand channel mode the
   * slices are quantized independently, so this is sqrt(sum over input channels of slice errors²). */
  error: Float64Array;
  relError: Float64Array;
  layout: ConvLayout;
  seconds: number;
  backend: GpfqResult['backend'];
}

/** GPFQ of a Conv2D / DepthwiseConv2D / grouped conv kernel, group by group. */
export async function quantizeConv(opts: QuantizeConvOptions): Promise<QuantizeConvResult> {
  const o = checkOptions(opts, 'quantizeConv options') as unknown as QuantizeConvOptions;
  const ix = indexer(o);
  const lay = ix.lay;
  const kernel = checkF32('kernel', o.kernel, lay.groups * lay.d * lay.n1);
  if ((o.gram === undefined) === (o.inputs === undefined)) {
    throw new QnnError('QNN_E_TYPE', 'pass exactly one of `gram` (a GramAccumulator) or `inputs` ({x, xq?, patch})');
  }
  if (o.gram && (o.gram.groups !== lay.groups || o.gram.d !== lay.d)) {
    throw new QnnError('QNN_E_SHAPE', `the accumulator holds ${o.gram.groups} group(s) of ${o.gram.d} columns; this layer needs ${lay.groups} of ${lay.d}`);
  }
  let patches: { x: Float32Array; xq?: Float32Array; rows: number; cols: number } | undefined;
  if (o.inputs) {
    const p = { ...o.inputs.patch, mode: ix.channelMode || o.layer === 'depthwise' ? ('channel' as const) : o.inputs.patch.mode, groups: ix.channelMode || o.layer === 'depthwise' ? undefined : o.groups, order: o.order };
    const a = await im2col({ ...p, input: o.inputs.x, backend: o.backend, threads: o.threads });
    const b = o.inputs.xq ? await im2col({ ...p, input: o.inputs.xq, backend: o.backend, threads: o.threads }) : undefined;
    if (a.groups !== lay.groups || a.cols !== lay.groups * lay.d) throw new QnnError('QNN_E_SHAPE', 'the input patches do not match the kernel shape');
    patches = { x: a.patches, xq: b?.patches, rows: a.rows, cols: a.cols };
  }
  const codes = new Int32Array(kernel.length);
  const q = new Float32Array(kernel.length);
  const err2 = new Float64Array(lay.outChannels);
  const ref2 = new Float64Array(lay.outChannels);
  const start = process.hrtime.bigint();
  let backend: GpfqResult['backend'] = 'js';
  const solver = checkOneOf('solver', o.solver, ['gpfq', 'gptq'] as const, 'gpfq');
  const base = { ...o } as Partial<QuantizeConvOptions>;
  for (const k of ['kernel', 'kernelShape', 'layer', 'groups', 'mode', 'order', 'gram', 'inputs', 'solver', 'gptq'] as const) delete base[k];
  // One dense problem: GPFQ, or GPTQ with its own options (it has no CUDA path: 'cuda' runs on the CPU addon).
  const solve = (p: GpfqOptions): Promise<{ codes: Int32Array; q: Float32Array; error: Float64Array; relError: Float64Array; backend: GpfqResult['backend'] }> => {
    if (solver === 'gpfq') return gpfq(p);
    const { algorithm: _a, block: _b, shortcut: _s, deadInput: _d, backend: be, ...rest } = p;
    return gptq({ ...rest, ...o.gptq, backend: be === 'cuda' ? 'auto' : be });
  };
  for (let g = 0; g < lay.groups; g++) {
    const w = groupWeights(kernel, o, g);
    const common = { ...base, weights: w, n0: lay.d, n1: lay.n1, alphabet: o.alphabet, seed: mixSeed(o.seed ?? 0, g) } as GpfqOptions;
    let r: { codes: Int32Array; q: Float32Array; error: Float64Array; relError: Float64Array; backend: GpfqResult['backend'] };
    if (o.gram) {
      r = await solve({ ...common, gram: await o.gram.matrices(g) });
    } else {
      const cols = (src: Float32Array) => {
        const out = new Float32Array(patches!.rows * lay.d);
        for (let i = 0; i < patches!.rows; i++) out.set(src.subarray(i * patches!.cols + g * lay.d, i * patches!.cols + (g + 1) * lay.d), i * lay.d);
        return out;
      };
      r = await solve({ ...common, x: cols(patches!.x), xq: patches!.xq ? cols(patches!.xq) : undefined, algorithm: 'direct' });
    }
    backend = r.backend;
    for (let rr = 0; rr < lay.d; rr++) {
      for (let j = 0; j < lay.n1; j++) {
        const at = ix.at(g, rr, j);
        codes[at] = r.codes[rr * lay.n1 + j];
        q[at] = r.q[rr * lay.n1 + j];
      }
    }
    for (let j = 0; j < lay.n1; j++) {
      const oc = ix.out(g, j);
      const e = r.error[j];
      const rel = r.relError[j];
      err2[oc] += e * e;
      ref2[oc] += rel > 0 && Number.isFinite(rel) ? (e / rel) ** 2 : 0;
    }
  }
  const error = new Float64Array(lay.outChannels);
  const relError = new Float64Array(lay.outChannels);
  for (let c = 0; c < lay.outChannels; c++) {
    error[c] = Math.sqrt(err2[c]);
    relError[c] = Number.isNaN(err2[c]) ? NaN : ref2[c] > 0 ? error[c] / Math.sqrt(ref2[c]) : error[c] === 0 ? 0 : Infinity;
  }
  return { codes, q, error, relError, layout: lay, seconds: Number(process.hrtime.bigint() - start) / 1e9, backend };
}
