/**
 * Internal plumbing shared by the format loaders: the `Loaded` hand-over to `loadDataset`
 * (labels up front, pixels on demand, so subsets are decided before anything big is decoded)
 * and small file helpers that turn file-system failures into QnnErrors naming the path.
 */
import * as fs from 'fs';
import { QnnError, toQnnError } from '../errors';
import { gatherRows, type NumericArray } from './split';
import type { Preprocess } from './types';

/** One pool of samples: labels in memory, sample values read on demand. */
export interface Source {
  /** Label of every sample in the pool. */
  y: Int32Array;
  /** Per-sample shape (NHWC). */
  shape: number[];
  /** Samples `indices` as float32 values before preprocessing, in that order. */
  read(indices: Int32Array): Promise<Float32Array>;
}

/** What a format loader returns. */
export interface Loaded {
  /** The training pool, or the only pool when the format has no official split. */
  train: Source;
  /** The official evaluation pool; absent means "split `train` with testFraction". */
  test?: Source;
  numClasses: number;
  classNames?: string[];
  defaultPreprocess: Preprocess;
  /** True when the stored order groups samples by class: the splits are then served in seeded random order. */
  classGrouped: boolean;
  /** Human text naming the source (kind, path, version). */
  source: string;
  /** Source-specific settings (resolved paths, image options, ...). */
  settings: Record<string, unknown>;
}

/** A Source over samples already in memory (`data` holds count × prod(shape) values). */
export function memorySource(data: NumericArray, y: Int32Array, shape: number[], what: string): Source {
  const rowLen = shape.reduce((a, b) => a * b, 1);
  return { y, shape, read: async (indices) => gatherRows(data, rowLen, indices, what) };
}

/** QNN_E_DATA error; the hint (the fix) is appended to the message. */
export function dataError(message: string, hint?: string, cause?: unknown): QnnError {
  return new QnnError('QNN_E_DATA', message, { hint, cause });
}

/** Throws QNN_E_DATA with `hint` unless `dir` is an existing directory. */
export function requireDir(dir: string, what: string, hint: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    throw dataError(`${what} directory not found: ${dir}`, hint, e);
  }
  if (!st.isDirectory()) throw dataError(`${what} path is not a directory: ${dir}`, hint);
}

/** True when `p` exists and is a regular file (symlinks followed). */
export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** True when `p` exists and is a directory (symlinks followed). */
export function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Reads a whole file; a missing file is QNN_E_DATA with `hint`, other failures QNN_E_IO. */
export function readFileOrThrow(file: string, hint: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw dataError(`file not found: ${file}`, hint, e);
    throw toQnnError(e, `reading ${file}`);
  }
}

/** The class count implied by integer labels: largest label + 1 (0 when there are none). */
export function classCountOf(...labels: Int32Array[]): number {
  let max = -1;
  for (const y of labels) for (let i = 0; i < y.length; i++) if (y[i] > max) max = y[i];
  return max + 1;
}
