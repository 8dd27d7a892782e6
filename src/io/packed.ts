/**
 * qnn-native packed low-bit format: each quantized tensor is stored as its level table (the
 * sorted distinct values, float32) plus one index per weight bit-packed at
 * bits = ceil(log2(levels)), so a 4-level tensor takes 2 bits per weight whatever its grid.
 * Every other weight is stored as float32. Stock TF.js cannot read it: {@link loadPacked} decodes
 * it to float32 and builds the model.
 *
 * Directory layout:
 * - `model.json`: `{format: 'qnn-packed', generatedBy, convertedBy, userDefinedMetadata?, qnnPacked}`
 *   with `qnnPacked = {version: 1, file: 'packed.bin', byteLength, bitOrder: 'lsb-first',
 *   modelTopology, tensors: [{name, shape, bits, levelsOffset, levelsCount, codesOffset,
 *   codesBitLength}], plain: {offset, weights: [{name, shape, dtype}]}}`. The Keras topology sits
 *   inside `qnnPacked` on purpose: a stock TF.js loader then fails loudly instead of building a
 *   model with random weights.
 * - `packed.bin`: per packed tensor, its levels (little-endian float32) then its codes, each
 *   section starting at a multiple of 4 bytes; then the plain weights back to back, little-endian,
 *   in manifest order. Codes are LSB-first: code i occupies stream bits [i·bits, (i+1)·bits), its
 *   least significant bit first, and stream bit j is bit (j mod 8) of byte ⌊j/8⌋.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import type { QuantizedTensor } from './export';
import { bytesOf, matchQuantized, modelFromArtifacts, MODEL_JSON, readModelJson, sizeOf, statOrUndefined, toArrayBuffer, writeDirAtomic } from './internal';
import { dirSize } from './sizes';

/** Name of the data file of a packed directory. */
export const PACKED_BIN = 'packed.bin';
const VERSION = 1;
const MAX_LEVELS = 65536;

/** One packed tensor in the manifest. Offsets are bytes into packed.bin. */
interface PackedEntry {
  name: string;
  shape: number[];
  bits: number;
  levelsOffset: number;
  levelsCount: number;
  codesOffset: number;
  codesBitLength: number;
}

interface PackedManifest {
  version: number;
  file: string;
  byteLength: number;
  bitOrder: 'lsb-first';
  modelTopology: object;
  tensors: PackedEntry[];
  plain: { offset: number; weights: { name: string; shape: number[]; dtype: 'float32' | 'int32' }[] };
}

/** Bits per code for `levels` distinct values: ceil(log2(levels)), 0 for a single level. */
function bitsFor(levels: number): number {
  let bits = 0;
  while (2 ** bits < levels) bits++;
  return bits;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Packs `codes` (each < 2^bits, bits ≤ 16) LSB-first into ceil(n·bits/8) bytes. */
export function packCodes(codes: ArrayLike<number>, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((codes.length * bits) / 8));
  let acc = 0;
  let nacc = 0;
  let k = 0;
  for (let i = 0; i < codes.length; i++) {
    acc |= codes[i] << nacc;
    nacc += bits;
    while (nacc >= 8) {
      out[k++] = acc & 0xff;
      acc >>>= 8;
      nacc -= 8;
    }
  }
  if (nacc > 0) out[k] = acc & 0xff;
  return out;
}

/** Inverse of {@link packCodes}: `n` codes of `bits` bits from `bytes`. */
export function unpackCodes(bytes: Uint8Array, n: number, bits: number): Uint16Array {
  const out = new Uint16Array(n);
  const mask = (1 << bits) - 1;
  let acc = 0;
  let nacc = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    while (nacc < bits) {
      acc |= bytes[k++] << nacc;
      nacc += 8;
    }
    out[i] = acc & mask;
    acc >>>= bits;
    nacc -= bits;
  }
  return out;
}

/** Level table (sorted distinct values, ±0 as one) and per-value indices of a tensor. */
function levelsAndCodes(t: QuantizedTensor): { levels: Float32Array; codes: Uint16Array } {
  const index = new Map<number, number>();
  for (const v of t.values) {
    if (!Number.isFinite(v)) throw new QnnError('QNN_E_VALUE', `tensor '${t.name}' has a non-finite value (${v})`);
    index.set(v, 0);
    if (index.size > MAX_LEVELS) {
      throw new QnnError('QNN_E_RANGE', `tensor '${t.name}' has more than ${MAX_LEVELS} distinct values, too many for the packed format`, {
        hint: 'Pass the quantized values, not the float weights',
      });
    }
  }
  const levels = Float32Array.from(index.keys()).sort();
  levels.forEach((v, i) => index.set(v, i));
  const codes = new Uint16Array(t.values.length);
  t.values.forEach((v, i) => (codes[i] = index.get(v) as number));
  return { levels, codes };
}

/** Options of {@link exportPacked}. */
export interface PackedOptions {
  /** Stored as `userDefinedMetadata` in model.json. */
  metadata?: Record<string, unknown>;
  /** Replace an existing non-empty output directory (default false: QNN_E_EXISTS). */
  overwrite?: boolean;
}

/** Result of {@link exportPacked}. */
export interface PackedExport {
  dir: string;
  /** Raw bytes of model.json + packed.bin. */
  bytes: number;
  /** Sum of the gzip (level 9) sizes of both files. */
  gzipBytes: number;
  /** Bits per weight and level count of each packed tensor, in model weight order. */
  tensors: { name: string; bits: number; levels: number }[];
}

/**
 * Writes `model` to `outDir` in the packed format (see the module comment), atomically: each
 * tensor of `tensors` as its level table + bit-packed indices (≤ 65536 distinct values, else
 * QNN_E_RANGE), every other weight as float32. Decoding is exact.
 */
export async function exportPacked(model: tfjs.LayersModel, tensors: QuantizedTensor[], outDir: string, opts: PackedOptions = {}): Promise<PackedExport> {
  const plan = matchQuantized(model, tensors);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const put = (bytes: Uint8Array): number => {
    const at = offset;
    chunks.push(bytes);
    offset += bytes.byteLength;
    const pad = align4(offset) - offset;
    if (pad) chunks.push(new Uint8Array(pad));
    offset += pad;
    return at;
  };
  const entries: PackedEntry[] = [];
  for (const { weight, quantized } of plan) {
    if (!quantized) continue;
    const { levels, codes } = levelsAndCodes(quantized);
    const bits = bitsFor(levels.length);
    const levelsOffset = put(bytesOf(levels));
    const codesOffset = put(packCodes(codes, bits));
    entries.push({ name: weight.name, shape: weight.shape, bits, levelsOffset, levelsCount: levels.length, codesOffset, codesBitLength: codes.length * bits });
  }
  const plainOffset = offset;
  const plain = plan.filter((p) => !p.quantized).map((p) => p.weight);
  for (const w of plain) {
    chunks.push(bytesOf(w.values));
    offset += w.values.byteLength;
  }
  const manifest: PackedManifest = {
    version: VERSION,
    file: PACKED_BIN,
    byteLength: offset,
    bitOrder: 'lsb-first',
    modelTopology: model.toJSON(null, false) as object,
    tensors: entries,
    plain: { offset: plainOffset, weights: plain.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype })) },
  };
  const json = {
    format: 'qnn-packed',
    generatedBy: 'qnn-native',
    convertedBy: 'qnn-native',
    ...(opts.metadata ? { userDefinedMetadata: opts.metadata } : {}),
    qnnPacked: manifest,
  };
  await writeDirAtomic(
    outDir,
    [
      { name: PACKED_BIN, data: Buffer.concat(chunks) },
      { name: MODEL_JSON, data: JSON.stringify(json) },
    ],
    { overwrite: opts.overwrite },
  );
  return {
    dir: outDir,
    ...(await dirSize(outDir)),
    tensors: entries.map((e) => ({ name: e.name, bits: e.bits, levels: e.levelsCount })),
  };
}

/**
 * Loads a packed directory (or its model.json): validates the manifest against packed.bin
 * (corrupt or truncated → QNN_E_MODEL), decodes every tensor to float32 and builds the model
 * with stock `tf.loadLayersModel`.
 */
export async function loadPacked(dir: string): Promise<tfjs.LayersModel> {
  const loc = await readModelJson(dir);
  const m = loc.json.qnnPacked as PackedManifest | undefined;
  const corrupt = (what: string): QnnError =>
    new QnnError('QNN_E_MODEL', `${loc.jsonPath}: ${what}`, { hint: 'The packed model is corrupt or truncated; export it again' });
  if (m === null || typeof m !== 'object') throw corrupt('no qnnPacked manifest (not a qnn-native packed model)');
  if (m.version !== VERSION) {
    throw new QnnError('QNN_E_UNSUPPORTED', `${loc.jsonPath}: packed format version ${String(m.version)} is not supported (this build reads version ${VERSION})`);
  }
  if (!Array.isArray(m.tensors) || !m.plain || !Array.isArray(m.plain.weights) || typeof m.modelTopology !== 'object' || !Number.isInteger(m.byteLength)) {
    throw corrupt('the qnnPacked manifest is incomplete');
  }
  const binPath = path.join(loc.dir, PACKED_BIN);
  const st = await statOrUndefined(binPath);
  if (!st) throw new QnnError('QNN_E_IO', `${binPath} (listed in ${loc.jsonPath}) not found`, { hint: 'Copy packed.bin next to model.json' });
  if (st.size !== m.byteLength) throw corrupt(`${PACKED_BIN} has ${st.size} bytes but model.json needs ${m.byteLength}`);
  const bin = new Uint8Array(await fsp.readFile(binPath));
  const slice = (off: number, len: number, what: string): Uint8Array => {
    if (!(Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= bin.byteLength)) throw corrupt(`${what} lies outside ${PACKED_BIN}`);
    return bin.subarray(off, off + len);
  };
  const specs: tfjs.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const e of m.tensors) {
    const n = Array.isArray(e.shape) ? sizeOf(e.shape) : NaN;
    if (!(Number.isInteger(n) && Number.isInteger(e.levelsCount) && e.levelsCount >= 1 && e.levelsCount <= MAX_LEVELS && e.bits === bitsFor(e.levelsCount) && e.codesBitLength === n * e.bits)) {
      throw corrupt(`packed tensor '${String(e.name)}' has an inconsistent entry (shape, bits, levels, code length)`);
    }
    const levels = new Float32Array(toArrayBuffer(slice(e.levelsOffset, 4 * e.levelsCount, `the levels of '${e.name}'`)));
    const codes = unpackCodes(slice(e.codesOffset, Math.ceil(e.codesBitLength / 8), `the codes of '${e.name}'`), n, e.bits);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (codes[i] >= e.levelsCount) throw corrupt(`packed tensor '${e.name}' has code ${codes[i]} but only ${e.levelsCount} levels`);
      values[i] = levels[codes[i]];
    }
    specs.push({ name: e.name, shape: e.shape, dtype: 'float32' });
    chunks.push(bytesOf(values));
  }
  const plainBytes = m.plain.weights.reduce((s, w) => s + (Array.isArray(w.shape) ? sizeOf(w.shape) : NaN) * 4, 0);
  chunks.push(slice(m.plain.offset, plainBytes, 'the float32 weights'));
  specs.push(...m.plain.weights);
  const artifacts: tfjs.io.ModelArtifacts = {
    modelTopology: m.modelTopology,
    format: 'layers-model',
    weightSpecs: specs,
    weightData: toArrayBuffer(new Uint8Array(Buffer.concat(chunks))),
  };
  return modelFromArtifacts(artifacts, loc.jsonPath);
}
