/**
 * The container shared by qnn-native's own model formats (packed low-bit, INQ exponents): a
 * directory with `model.json` — `{format, generatedBy, convertedBy, userDefinedMetadata?,
 * [key]: manifest}` — and one binary file holding per-tensor sections (each 4-byte aligned)
 * followed by the plain float32 weights. The topology lives inside the manifest, so a stock
 * `tf.loadLayersModel` fails loudly on these directories instead of building random weights.
 * Writing is atomic; reading validates sizes and offsets before any decoding.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import { bytesOf, modelFromArtifacts, MODEL_JSON, NamedWeight, readModelJson, sizeOf, statOrUndefined, toArrayBuffer, writeDirAtomic } from './internal';

/** Identity of one format: `format` string, the manifest key, the binary file, the version. */
export interface BundleFormat {
  format: string;
  key: string;
  file: string;
  version: number;
  /** Human name for messages ('packed', 'INQ'). */
  name: string;
}

export interface BundleManifest<E> {
  version: number;
  file: string;
  byteLength: number;
  bitOrder: 'lsb-first';
  modelTopology: object;
  tensors: E[];
  plain: { offset: number; weights: tfjs.io.WeightsManifestEntry[] };
}

/** Collects the binary file: sections at 4-byte aligned offsets. */
export class BundleWriter {
  private readonly chunks: Uint8Array[] = [];
  private offset = 0;

  /** Appends `bytes` and returns their offset; pads to the next multiple of 4. */
  put(bytes: Uint8Array): number {
    const at = this.offset;
    this.chunks.push(bytes);
    this.offset += bytes.byteLength;
    const pad = ((this.offset + 3) & ~3) - this.offset;
    if (pad) this.chunks.push(new Uint8Array(pad));
    this.offset += pad;
    return at;
  }

  /**
   * Appends the plain weights and writes `outDir` (model.json + the binary file) atomically.
   * `entries` are the format's per-tensor manifest entries.
   */
  async write<E>(outDir: string, fmt: BundleFormat, model: tfjs.LayersModel, entries: E[], plain: NamedWeight[], opts: { metadata?: Record<string, unknown>; overwrite?: boolean }): Promise<void> {
    const plainOffset = this.offset;
    for (const w of plain) {
      this.chunks.push(bytesOf(w.values));
      this.offset += w.values.byteLength;
    }
    const manifest: BundleManifest<E> = {
      version: fmt.version,
      file: fmt.file,
      byteLength: this.offset,
      bitOrder: 'lsb-first',
      modelTopology: model.toJSON(null, false) as object,
      tensors: entries,
      plain: { offset: plainOffset, weights: plain.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype })) },
    };
    const json = {
      format: fmt.format,
      generatedBy: 'qnn-native',
      convertedBy: 'qnn-native',
      ...(opts.metadata ? { userDefinedMetadata: opts.metadata } : {}),
      [fmt.key]: manifest,
    };
    await writeDirAtomic(
      outDir,
      [
        { name: fmt.file, data: Buffer.concat(this.chunks) },
        { name: MODEL_JSON, data: JSON.stringify(json) },
      ],
      { overwrite: opts.overwrite },
    );
  }
}

/** A validated bundle: its manifest and bounds-checked access to the binary file. */
export interface BundleReader<E> {
  manifest: BundleManifest<E>;
  jsonPath: string;
  /** bytes [off, off + len) of the binary file; QNN_E_MODEL naming `what` when out of bounds. */
  slice(off: number, len: number, what: string): Uint8Array;
  /** A QNN_E_MODEL error about this bundle. */
  corrupt(what: string): QnnError;
}

/** Reads and validates the container of `dir` (or its model.json). */
export async function readBundle<E>(dir: string, fmt: BundleFormat): Promise<BundleReader<E>> {
  const loc = await readModelJson(dir);
  const m = loc.json[fmt.key] as BundleManifest<E> | undefined;
  const corrupt = (what: string): QnnError =>
    new QnnError('QNN_E_MODEL', `${loc.jsonPath}: ${what}`, { hint: `The ${fmt.name} model is corrupt or truncated; export it again` });
  if (m === null || typeof m !== 'object') throw corrupt(`no ${fmt.key} manifest (not a qnn-native ${fmt.name} model)`);
  if (m.version !== fmt.version) {
    throw new QnnError('QNN_E_UNSUPPORTED', `${loc.jsonPath}: ${fmt.name} format version ${String(m.version)} is not supported (this build reads version ${fmt.version})`);
  }
  if (!Array.isArray(m.tensors) || !m.plain || !Array.isArray(m.plain.weights) || typeof m.modelTopology !== 'object' || !Number.isInteger(m.byteLength)) {
    throw corrupt(`the ${fmt.key} manifest is incomplete`);
  }
  const binPath = path.join(loc.dir, fmt.file);
  const st = await statOrUndefined(binPath);
  if (!st) throw new QnnError('QNN_E_IO', `${binPath} (listed in ${loc.jsonPath}) not found`, { hint: `Copy ${fmt.file} next to model.json` });
  if (st.size !== m.byteLength) throw corrupt(`${fmt.file} has ${st.size} bytes but model.json needs ${m.byteLength}`);
  const bin = new Uint8Array(await fsp.readFile(binPath));
  const slice = (off: number, len: number, what: string): Uint8Array => {
    if (!(Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= bin.byteLength)) throw corrupt(`${what} lies outside ${fmt.file}`);
    return bin.subarray(off, off + len);
  };
  return { manifest: m, jsonPath: loc.jsonPath, slice, corrupt };
}

/** Builds the model from the decoded tensors (in manifest order) plus the bundle's plain weights. */
export async function modelFromBundle<E>(r: BundleReader<E>, decoded: Array<{ name: string; shape: number[]; values: Float32Array }>): Promise<tfjs.LayersModel> {
  const m = r.manifest;
  const specs: tfjs.io.WeightsManifestEntry[] = decoded.map((d) => ({ name: d.name, shape: d.shape, dtype: 'float32' }));
  const chunks = decoded.map((d) => bytesOf(d.values));
  const plainBytes = m.plain.weights.reduce((s, w) => s + (Array.isArray(w.shape) ? sizeOf(w.shape) : NaN) * 4, 0);
  chunks.push(r.slice(m.plain.offset, plainBytes, 'the plain weights'));
  specs.push(...m.plain.weights);
  const artifacts: tfjs.io.ModelArtifacts = {
    modelTopology: m.modelTopology,
    format: 'layers-model',
    weightSpecs: specs,
    weightData: toArrayBuffer(new Uint8Array(Buffer.concat(chunks))),
  };
  return modelFromArtifacts(artifacts, r.jsonPath);
}
