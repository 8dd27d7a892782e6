/**
 * Export of a quantized model as a standard TF.js layers model whose quantized tensors are stored
 * as uint8/uint16 grid codes in the manifest's `quantization` field (FIELD.md §3): any TF.js
 * runtime decodes them with value = code·scale + min (doubles, then float32). A tensor is only
 * written on a grid when every value decodes bit-exactly; otherwise it is stored exactly as
 * float16 (when every value is a binary16 number) or float32, and marked `exact: false`.
 * Nothing is ever written lossily.
 */
import type * as tfjs from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import { getTf } from '../tf/runtime';
import { bytesOf, matchQuantized, sizeOf } from './internal';
import { fileIO, writeLayersModelDir } from './model_io';
import { dirSize } from './sizes';

/** value = Math.fround(code * step + min): the exact TF.js uint8/uint16 decode rule (doubles, then float32). */
export interface GridSpec {
  step: number;
  min: number;
}

/** A quantized weight tensor to export. */
export interface QuantizedTensor {
  /** Weight name as in the model (`LayerVariable.originalName`), e.g. 'dense_1/kernel'. */
  name: string;
  /** The quantized (dequantized) weights, in the model's layout. */
  values: Float32Array;
  /** The grid, when the quantizer knows it. */
  grid?: GridSpec;
  /** Grid codes (value = fround(code·step + min)) when known; needs `grid`. */
  codes?: Int32Array;
}

/** How one quantized tensor was stored. */
export interface ExportedTensor {
  name: string;
  /** Stored type: uint8/uint16 grid codes, or float16/float32 values. */
  dtype: 'uint8' | 'uint16' | 'float16' | 'float32';
  /** Grid step (manifest `scale`), for uint8/uint16. */
  scale?: number;
  /** Grid origin (manifest `min`), for uint8/uint16. */
  min?: number;
  /**
   * True when stored in a quantized form (uint8/uint16 grid, or float16); false when no exact
   * grid exists and the tensor fell back to float32. Every stored value is bit-exact either way
   * (+0 and −0 count as equal).
   */
  exact: boolean;
  /** Number of distinct values. */
  levels: number;
  /** Bytes the tensor takes in the weight file. */
  bytes: number;
}

/** Options of {@link exportQuantizedTfjs}. */
export interface ExportOptions {
  /** Stored as `userDefinedMetadata` in model.json. */
  metadata?: Record<string, unknown>;
  /** Replace an existing non-empty output directory (default false: QNN_E_EXISTS). */
  overwrite?: boolean;
}

/** Result of {@link exportQuantizedTfjs}. */
export interface TfjsExport {
  dir: string;
  /** One entry per quantized tensor, in model weight order. */
  tensors: ExportedTensor[];
  /** Raw bytes of all written files. */
  bytes: number;
  /** Sum of the gzip (level 9) sizes of all written files. */
  gzipBytes: number;
}

interface GridEncoding {
  dtype: 'uint8' | 'uint16';
  step: number;
  min: number;
  codes: Uint16Array;
}

/**
 * Codes of `values` on the grid (step, min) when every value decodes bit-exactly
 * (fround(code·step + min) === value) with 0 ≤ code ≤ 65535; undefined otherwise.
 */
function fitGrid(values: Float32Array, step: number, min: number): GridEncoding | undefined {
  if (!(Number.isFinite(step) && step > 0 && Number.isFinite(min))) return undefined;
  const codes = new Uint16Array(values.length);
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const c = Math.round((values[i] - min) / step);
    if (!(c >= 0 && c <= 65535) || Math.fround(c * step + min) !== values[i]) return undefined;
    codes[i] = c;
    if (c > max) max = c;
  }
  return { dtype: max <= 255 ? 'uint8' : 'uint16', step, min, codes };
}

/** The first candidate grid that fits, preferring uint8 over uint16. */
function bestGrid(values: Float32Array, candidates: GridSpec[]): GridEncoding | undefined {
  let best: GridEncoding | undefined;
  for (const g of candidates) {
    const e = fitGrid(values, g.step, g.min);
    if (e && (!best || (best.dtype === 'uint16' && e.dtype === 'uint8'))) best = e;
    if (best?.dtype === 'uint8') break;
  }
  return best;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Candidates from a grid the quantizer declared: itself, rebased so the smallest code is 0, and
 * coarsened by the gcd of the code offsets (e.g. even codes on a half-step grid → step·2), which
 * can turn uint16 codes into uint8. Throws QNN_E_VALUE when `values` are not on the declared grid.
 */
function declaredGridCandidates(t: QuantizedTensor, grid: GridSpec): GridSpec[] {
  const { step, min } = grid;
  const n = t.values.length;
  if (t.codes && t.codes.length !== n) {
    throw new QnnError('QNN_E_SHAPE', `tensor '${t.name}': ${t.codes.length} codes for ${n} values`);
  }
  let cmin = Infinity;
  let g = 0;
  const codeAt = (i: number): number => (t.codes ? t.codes[i] : Math.round((t.values[i] - min) / step));
  for (let i = 0; i < n; i++) {
    const c = codeAt(i);
    if (Math.fround(c * step + min) !== t.values[i]) {
      throw new QnnError('QNN_E_VALUE', `tensor '${t.name}': value ${t.values[i]} at index ${i} is not on its grid (code ${c} decodes to ${Math.fround(c * step + min)})`, {
        hint: 'The quantizer must produce values = Math.fround(code * step + min); fix the grid or pass no grid to let the exporter infer one',
      });
    }
    cmin = Math.min(cmin, c);
  }
  for (let i = 0; i < n && g !== 1; i++) g = gcd(g, codeAt(i) - cmin);
  const base = min + cmin * step;
  const out: GridSpec[] = cmin === 0 ? [grid] : [grid, { step, min: base }];
  if (g > 1) out.push({ step: step * g, min: base });
  return out;
}

/** Sorted distinct values (+0 and −0 as one). */
function distinctSorted(values: Float32Array): Float64Array {
  const sorted = Float64Array.from(values).sort();
  let k = 0;
  for (let i = 0; i < sorted.length; i++) if (k === 0 || sorted[i] !== sorted[k - 1]) sorted[k++] = sorted[i];
  return sorted.subarray(0, k);
}

/**
 * The reals that round to the float32 `v` (round to nearest), shrunk by a hair to stay clear of
 * ties: half the gap to each neighbour, which is half as wide below a power of two.
 */
function roundingInterval(v: number): [number, number] {
  const a = Math.abs(v);
  const shrink = 0.5 * (1 - 2 ** -20);
  if (a === 0) return [-(2 ** -149) * shrink, 2 ** -149 * shrink];
  let e = Math.max(Math.floor(Math.log2(a)), -126);
  if (e > -126 && 2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (e - 23);
  const below = a === 2 ** e && e > -126 ? ulp / 2 : ulp;
  const lo = a - below * shrink;
  const hi = a + ulp * shrink;
  return v < 0 ? [-hi, -lo] : [lo, hi];
}

/** Bounds of the steps s with k_i·s + m inside [lo_i, hi_i] for every level with k_i ≠ 0. */
function stepBounds(lo: Float64Array, hi: Float64Array, k: Float64Array, m: number): [number, number] {
  let a = -Infinity;
  let b = Infinity;
  for (let i = 0; i < k.length; i++) {
    if (k[i] === 0) continue;
    const x = (lo[i] - m) / k[i];
    const y = (hi[i] - m) / k[i];
    a = Math.max(a, Math.min(x, y));
    b = Math.min(b, Math.max(x, y));
  }
  return [a, b];
}

/**
 * A grid (s, m) with k_i·s + m inside [lo_i, hi_i] for all i, m free within the interval of the
 * level with k = 0: the infeasibility lower(m) − upper(m) of the step bounds is convex in m, so a
 * ternary search finds a feasible m when there is one; s is then the middle of its bounds.
 */
function gridFromIntervals(lo: Float64Array, hi: Float64Array, k: Float64Array): GridSpec | undefined {
  const gap = (m: number): number => {
    const [a, b] = stepBounds(lo, hi, k, m);
    return a - b;
  };
  let [ml, mh] = [lo[0], hi[0]];
  for (let it = 0; it < 200 && gap((ml + mh) / 2) > 0; it++) {
    const m1 = ml + (mh - ml) / 3;
    const m2 = mh - (mh - ml) / 3;
    if (gap(m1) <= gap(m2)) mh = m2;
    else ml = m1;
  }
  const m = (ml + mh) / 2;
  const [a, b] = stepBounds(lo, hi, k, m);
  return a <= b && a > 0 ? { step: (a + b) / 2, min: m } : undefined;
}

/**
 * Grids inferred from the distinct values d₀ < … < d_L (verified by the caller). The smallest gap,
 * refined level by level (s = (d_i − d₀)/k_i with k_i = round((d_i − d₀)/s), giving up when a
 * level is not near a multiple), yields every level's code k and a first candidate (s, d₀). Then
 * the grids compatible with float32 rounding of every level: min free ({@link gridFromIntervals}),
 * and, when 0 is a level with code z, min = −z·s so that code z decodes to exactly 0.
 */
function inferredGridCandidates(levels: Float64Array): GridSpec[] {
  if (levels.length === 1) return [{ step: 1, min: levels[0] }];
  if (levels.length > 65536) return [];
  let s = Infinity;
  for (let i = 1; i < levels.length; i++) s = Math.min(s, levels[i] - levels[i - 1]);
  const k = new Float64Array(levels.length);
  for (let i = 1; i < levels.length; i++) {
    const q = (levels[i] - levels[0]) / s;
    k[i] = Math.round(q);
    if (Math.abs(q - k[i]) > 0.25 || k[i] > 65535) return [];
    s = (levels[i] - levels[0]) / k[i];
  }
  const out: GridSpec[] = [{ step: s, min: levels[0] }];
  const lo = new Float64Array(levels.length);
  const hi = new Float64Array(levels.length);
  levels.forEach((v, i) => ([lo[i], hi[i]] = roundingInterval(v)));
  const free = gridFromIntervals(lo, hi, k);
  if (free) out.push(free);
  const zeroAt = levels.indexOf(0);
  if (zeroAt >= 0) {
    const z = k[zeroAt];
    const [a, b] = stepBounds(lo, hi, k.map((c) => c - z), 0);
    const step = (a + b) / 2;
    if (a <= b && a > 0) out.push({ step, min: -(z * step) });
  }
  return out;
}

/** binary16 bits of `v` when it is exactly representable as a half float, else undefined. */
function halfBits(v: number): number | undefined {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a < 2 ** -14) {
    const m = a * 2 ** 24;
    return Number.isInteger(m) ? sign | m : undefined;
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e > 15) return undefined;
  const m = (a / 2 ** e - 1) * 1024;
  return Number.isInteger(m) ? sign | ((e + 15) << 10) | m : undefined;
}

/** The whole tensor as float16 when every value is exact in binary16. */
function fitFloat16(values: Float32Array): Uint16Array | undefined {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const h = halfBits(values[i]);
    if (h === undefined) return undefined;
    out[i] = h;
  }
  return out;
}

/** A FIELD.md §3.2 manifest entry: dequantized dtype float32, plus `original_dtype` as the converter writes it. */
function quantizedSpec(name: string, shape: number[], q: NonNullable<tfjs.io.WeightsManifestEntry['quantization']>): tfjs.io.WeightsManifestEntry {
  const quantization = { ...q, original_dtype: 'float32' };
  return { name, shape, dtype: 'float32', quantization };
}

/** Chooses the storage of one quantized tensor: its manifest entry, bytes and report line. */
function encodeQuantized(t: QuantizedTensor, shape: number[]): { spec: tfjs.io.WeightsManifestEntry; data: Uint8Array; report: ExportedTensor } {
  for (let i = 0; i < t.values.length; i++) {
    if (!Number.isFinite(t.values[i])) throw new QnnError('QNN_E_VALUE', `tensor '${t.name}' has a non-finite value (${t.values[i]}) at index ${i}`);
  }
  if (t.codes && !t.grid) throw new QnnError('QNN_E_VALUE', `tensor '${t.name}' has codes but no grid`, { hint: 'Pass grid {step, min} with the codes' });
  const levels = distinctSorted(t.values);
  const base = { name: t.name, levels: levels.length };
  let grid = t.grid ? bestGrid(t.values, declaredGridCandidates(t, t.grid)) : undefined;
  if (grid?.dtype !== 'uint8') {
    const inferred = bestGrid(t.values, inferredGridCandidates(levels));
    if (inferred && (!grid || inferred.dtype === 'uint8')) grid = inferred;
  }
  if (grid) {
    const data = grid.dtype === 'uint8' ? Uint8Array.from(grid.codes) : grid.codes;
    return {
      spec: quantizedSpec(t.name, shape, { dtype: grid.dtype, scale: grid.step, min: grid.min }),
      data: bytesOf(data),
      report: { ...base, dtype: grid.dtype, scale: grid.step, min: grid.min, exact: true, bytes: data.byteLength },
    };
  }
  const half = fitFloat16(t.values);
  if (half) {
    return {
      spec: quantizedSpec(t.name, shape, { dtype: 'float16' }),
      data: bytesOf(half),
      report: { ...base, dtype: 'float16', exact: true, bytes: half.byteLength },
    };
  }
  return {
    spec: { name: t.name, shape, dtype: 'float32' },
    data: bytesOf(t.values),
    report: { ...base, dtype: 'float32', exact: false, bytes: t.values.byteLength },
  };
}

/**
 * Writes `model` to `outDir` as a TF.js layers model (model.json + weights.bin, atomically) with
 * each tensor of `tensors` stored in the smallest exact form (uint8/uint16 codes, float16, or
 * float32) and every other weight as float32. Returns what was stored per tensor and the raw and
 * gzip sizes of the directory.
 */
export async function exportQuantizedTfjs(model: tfjs.LayersModel, tensors: QuantizedTensor[], outDir: string, opts: ExportOptions = {}): Promise<TfjsExport> {
  const specs: tfjs.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  const report: ExportedTensor[] = [];
  for (const { weight, quantized } of matchQuantized(model, tensors)) {
    if (quantized) {
      const e = encodeQuantized(quantized, weight.shape);
      specs.push(e.spec);
      chunks.push(e.data);
      report.push(e.report);
    } else {
      specs.push({ name: weight.name, shape: weight.shape, dtype: weight.dtype });
      chunks.push(bytesOf(weight.values));
    }
  }
  await writeLayersModelDir(
    outDir,
    { modelTopology: model.toJSON(null, false) as object, weightSpecs: specs, weightData: new Uint8Array(Buffer.concat(chunks)), userDefinedMetadata: opts.metadata },
    { overwrite: opts.overwrite },
  );
  return { dir: outDir, tensors: report, ...(await dirSize(outDir)) };
}

/** Result of {@link roundTripCheck}. */
export interface RoundTripResult {
  /** max |Δ| over all outputs between the reloaded and the in-memory model. */
  maxAbsDiffLogits: number;
  /** Every reloaded weight equals the in-memory one value for value (+0 and −0 count as equal). */
  weightsBitExact: boolean;
}

/**
 * Reloads the model written to `dir` with stock `tf.loadLayersModel` (TF.js's own decoder) and
 * compares it with the in-memory `model` (whose quantized weights hold the exported values):
 * outputs on `inputs` (shape `inputShape`, batch first) and all weights.
 */
export async function roundTripCheck(dir: string, model: tfjs.LayersModel, inputs: Float32Array, inputShape: number[]): Promise<RoundTripResult> {
  if (inputs.length !== sizeOf(inputShape)) {
    throw new QnnError('QNN_E_SHAPE', `roundTripCheck: ${inputs.length} input values do not fill shape [${inputShape}]`);
  }
  const tf = await getTf();
  const loaded = await tf.loadLayersModel(fileIO(dir));
  try {
    const mine = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync()]));
    const weightsBitExact =
      loaded.weights.length === mine.size &&
      loaded.weights.every((w) => {
        const a = mine.get(w.originalName);
        const b = w.read().dataSync();
        return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
      });
    const maxAbsDiffLogits = tf.tidy(() => {
      const x = tf.tensor(inputs, inputShape);
      const outs = (m: tfjs.LayersModel): tfjs.Tensor[] => ([] as tfjs.Tensor[]).concat(m.predict(x));
      const a = outs(model);
      const b = outs(loaded);
      return Math.max(...a.map((t, i) => tf.max(tf.abs(tf.sub(t, b[i]))).dataSync()[0]));
    });
    return { maxAbsDiffLogits, weightsBitExact };
  } finally {
    loaded.dispose();
  }
}
