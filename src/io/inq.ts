/**
 * qnn-native INQ format: a model whose quantized kernels are INQ powers of two stored as their
 * `encodeInq` codes (0 = zero, else a sign bit plus n1 − exponent + 1), bit-packed at `bits` bits
 * per weight with the per-tensor n1 in the manifest (the export ALGORITHMS.md §6 recommends instead
 * of the reference derivative's lossy int8 file, §11.19). Every other weight is stored as it is
 * (float32 or int32). Stock TF.js cannot read it: {@link loadInq} decodes it and builds the model.
 *
 * Directory layout:
 * - `model.json`: `{format: 'qnn-inq', generatedBy, convertedBy, userDefinedMetadata?, qnnInq}`
 *   with `qnnInq = {version: 1, file: 'inq.bin', byteLength, bitOrder: 'lsb-first', modelTopology,
 *   tensors: [{name, shape, bits, n1, n2, offset}], plain: {offset, weights: [{name, shape, dtype}]}}`.
 *   The topology sits inside `qnnInq` so that a stock TF.js loader fails instead of building a model
 *   with random weights.
 * - `inq.bin`: per INQ tensor its codes, ⌈count·bits/8⌉ bytes starting at `offset` (a multiple of
 *   4), packed LSB-first as in the packed format (`packCodes`); then the plain weights back to back,
 *   little-endian, in manifest order.
 */
import type * as tfjs from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import { decodeInq, encodeInq } from '../methods/inq';
import { BundleFormat, BundleWriter, modelFromBundle, readBundle } from './bundle';
import { matchQuantized, sizeOf } from './internal';
import { packCodes, unpackCodes } from './packed';
import { dirSize } from './sizes';

/** Name of the data file of an INQ directory. */
export const INQ_BIN = 'inq.bin';
const VERSION = 1;

/** An INQ-quantized weight to export (the `tensors` of `quantizeInq` fit as they are). */
export interface InqExportTensor {
  /** Weight name as in the model (`originalName`, e.g. 'dense_1/kernel'). */
  name: string;
  /** Values, each 0 or ±2^i with n1 + 1 − 2^(bits−2) ≤ i ≤ n1. */
  values: Float32Array;
  n1: number;
  bits: number;
}

/** One INQ tensor in the manifest; `offset` is in bytes into inq.bin. */
interface InqEntry {
  name: string;
  shape: number[];
  bits: number;
  n1: number;
  n2: number;
  offset: number;
}

const FORMAT: BundleFormat = { format: 'qnn-inq', key: 'qnnInq', file: INQ_BIN, version: VERSION, name: 'INQ' };

/** Options of {@link exportInq}. */
export interface InqExportOptions {
  /** Stored as `userDefinedMetadata` in model.json. */
  metadata?: Record<string, unknown>;
  /** Replace an existing non-empty output directory (default false: QNN_E_EXISTS). */
  overwrite?: boolean;
}

/** Result of {@link exportInq}. */
export interface InqExport {
  dir: string;
  /** Raw bytes of model.json + inq.bin. */
  bytes: number;
  /** Sum of the gzip (level 9) sizes of both files. */
  gzipBytes: number;
  /** Bytes of every weight of the model as float32, the weight file of the float model. */
  float32Bytes: number;
  /** The INQ tensors in model weight order; `bytes` are their packed codes (vs 4 per weight as float32). */
  tensors: { name: string; bits: number; n1: number; n2: number; bytes: number }[];
}

/** The smallest exponent of a `bits`-bit tensor, as `inqExponents` computes it. */
const lowestExponent = (n1: number, bits: number): number => Math.trunc(n1 + 1 - 2 ** (bits - 1) / 2);

/**
 * Writes `model` to `outDir` in the INQ format (see the module comment), atomically: each tensor
 * of `tensors` as its `encodeInq` codes packed at `bits` bits per weight (a value that is not 0 or
 * a power of two in range is QNN_E_VALUE), every other weight as stored. Decoding is exact.
 */
export async function exportInq(model: tfjs.LayersModel, tensors: InqExportTensor[], outDir: string, opts: InqExportOptions = {}): Promise<InqExport> {
  const plan = matchQuantized(model, tensors);
  const bin = new BundleWriter();
  const entries: InqEntry[] = [];
  const packedBytes: number[] = [];
  for (const { weight, quantized } of plan) {
    if (!quantized) continue;
    let codes: Uint8Array | Uint16Array;
    try {
      codes = encodeInq(quantized.values, quantized.n1, quantized.bits).codes;
    } catch (e) {
      throw new QnnError(e instanceof QnnError ? e.code : 'QNN_E_INTERNAL', `INQ tensor '${weight.name}': ${(e as Error).message}`, { cause: e });
    }
    const packed = packCodes(codes, quantized.bits);
    const offset = bin.put(packed);
    entries.push({ name: weight.name, shape: weight.shape, bits: quantized.bits, n1: quantized.n1, n2: lowestExponent(quantized.n1, quantized.bits), offset });
    packedBytes.push(packed.byteLength);
  }
  await bin.write(outDir, FORMAT, model, entries, plan.filter((p) => !p.quantized).map((p) => p.weight), opts);
  return {
    dir: outDir,
    ...(await dirSize(outDir)),
    float32Bytes: 4 * plan.reduce((s, p) => s + p.weight.values.length, 0),
    tensors: entries.map((e, i) => ({ name: e.name, bits: e.bits, n1: e.n1, n2: e.n2, bytes: packedBytes[i] })),
  };
}

/**
 * Loads an INQ directory (or its model.json): validates the manifest against inq.bin (corrupt or
 * truncated → QNN_E_MODEL), decodes every tensor to its exact float32 powers of two and builds the
 * model with stock `tf.loadLayersModel`.
 */
export async function loadInq(dir: string): Promise<tfjs.LayersModel> {
  const r = await readBundle<InqEntry>(dir, FORMAT);
  const decoded = r.manifest.tensors.map((e) => {
    const n = Array.isArray(e.shape) && e.shape.every((d) => Number.isInteger(d) && d >= 0) ? sizeOf(e.shape) : NaN;
    const okBits = Number.isInteger(e.bits) && e.bits >= 2 && e.bits <= 16;
    if (!(Number.isInteger(n) && okBits && Number.isInteger(e.n1) && e.n1 <= 127 && e.n2 === lowestExponent(e.n1, e.bits))) {
      throw r.corrupt(`INQ tensor '${String(e.name)}' has an inconsistent entry (shape, bits, n1, n2)`);
    }
    const codes = unpackCodes(r.slice(e.offset, Math.ceil((n * e.bits) / 8), `the codes of '${e.name}'`), n, e.bits);
    try {
      return { name: e.name, shape: e.shape, values: decodeInq({ codes, n1: e.n1, bits: e.bits }) };
    } catch (err) {
      throw r.corrupt(`INQ tensor '${e.name}': ${(err as Error).message}`);
    }
  });
  return modelFromBundle(r, decoded);
}
