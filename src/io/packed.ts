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
import type * as tfjs from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import type { QuantizedTensor } from './export';
import { BundleFormat, BundleWriter, modelFromBundle, readBundle } from './bundle';
import { bytesOf, matchQuantized, sizeOf, toArrayBuffer } from './internal';
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

const FORMAT: BundleFormat = { format: 'qnn-packed', key: 'qnnPacked', file: PACKED_BIN, version: VERSION, name: 'packed' };

function bitsFor(levels: number): number {
  let bits = 0;
  while (2 ** bits < levels) bits++;
  return bits;
}

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
  const bin = new BundleWriter();
  const entries: PackedEntry[] = [];
  for (const { weight, quantized } of plan) {
    if (!quantized) continue;
    const { levels, codes } = levelsAndCodes(quantized);
    const bits = bitsFor(levels.length);
    const levelsOffset = bin.put(bytesOf(levels));
    const codesOffset = bin.put(packCodes(codes, bits));
    entries.push({ name: weight.name, shape: weight.shape, bits, levelsOffset, levelsCount: levels.length, codesOffset, codesBitLength: codes.length * bits });
  }
  await bin.write(outDir, FORMAT, model, entries, plan.filter((p) => !p.quantized).map((p) => p.weight), opts);
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
  const r = await readBundle<PackedEntry>(dir, FORMAT);
  const decoded = r.manifest.tensors.map((e) => {
    const n = Array.isArray(e.shape) ? sizeOf(e.shape) : NaN;
    if (!(Number.isInteger(n) && Number.isInteger(e.levelsCount) && e.levelsCount >= 1 && e.levelsCount <= MAX_LEVELS && e.bits === bitsFor(e.levelsCount) && e.codesBitLength === n * e.bits)) {
      throw r.corrupt(`packed tensor '${String(e.name)}' has an inconsistent entry (shape, bits, levels, code length)`);
    }
    const levels = new Float32Array(toArrayBuffer(r.slice(e.levelsOffset, 4 * e.levelsCount, `the levels of '${e.name}'`)));
    const codes = unpackCodes(r.slice(e.codesOffset, Math.ceil(e.codesBitLength / 8), `the codes of '${e.name}'`), n, e.bits);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (codes[i] >= e.levelsCount) throw r.corrupt(`packed tensor '${e.name}' has code ${codes[i]} but only ${e.levelsCount} levels`);
      values[i] = levels[codes[i]];
    }
    return { name: e.name, shape: e.shape, values };
  });
  return modelFromBundle(r, decoded);
}
