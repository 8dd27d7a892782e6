/**
 * NumPy `.npy` files, format versions 1, 2 and 3: magic `\x93NUMPY`, version bytes, a
 * little-endian header length (uint16 in v1, uint32 in v2/v3), a Python-literal header dict
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (N, ...), }`, then the raw C-order data.
 */
import * as path from 'path';
import { createProgress } from '../util/progress';
import { classCountOf, dataError, memorySource, readFileOrThrow, type Loaded } from './source';

/** The element types read: little-endian float32/float64/int32/int64 and uint8. */
export type NpyDtype = '<f4' | '<f8' | '|u1' | '<i4' | '<i8';

/** A decoded .npy array. */
export interface NpyArray {
  /** Array shape ([] for a scalar). */
  shape: number[];
  /** The stored element type. */
  dtype: NpyDtype;
  /**
   * prod(shape) values in C order: Float32Array (<f4), Float64Array (<f8, and <i8, which must stay
   * within ±2^53), Uint8Array (|u1), Int32Array (<i4).
   */
  data: Float32Array | Float64Array | Uint8Array | Int32Array;
}

const ITEM_SIZE: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '|u1': 1, '<i4': 4, '<i8': 8 };
const RESAVE = "re-save it with numpy: np.save(path, np.ascontiguousarray(a.astype('<f4')))";

/** Copies `nbytes` at `offset` into a fresh ArrayBuffer unless they are already aligned to `align`. */
function aligned(buf: Buffer, offset: number, nbytes: number, align: number): { buffer: ArrayBufferLike; byteOffset: number } {
  if ((buf.byteOffset + offset) % align === 0) return { buffer: buf.buffer, byteOffset: buf.byteOffset + offset };
  const copy = new Uint8Array(nbytes);
  copy.set(buf.subarray(offset, offset + nbytes));
  return { buffer: copy.buffer, byteOffset: 0 };
}

/** Reads a .npy file (C order, dtypes in {@link NpyDtype}); anything else is QNN_E_DATA naming the file and the fix. */
export function readNpy(file: string): NpyArray {
  const buf = readFileOrThrow(file, 'check the path');
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') {
    throw dataError(`${file} is not a .npy file (no \\x93NUMPY magic)`, 'write it with numpy.save (not savez / pickle)');
  }
  const major = buf[6];
  if (major < 1 || major > 3) throw dataError(`${file}: .npy format version ${major}.${buf[7]} is not supported`, RESAVE);
  const start = major === 1 ? 10 : 12;
  if (buf.length < start) throw dataError(`${file}: truncated .npy header`, RESAVE);
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  if (buf.length < start + headerLen) throw dataError(`${file}: truncated .npy header`, RESAVE);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw dataError(`${file}: malformed .npy header ${JSON.stringify(header.trim())}`, RESAVE);
  }
  if (fortran === 'True') {
    throw dataError(`${file} is stored in Fortran (column-major) order`, 'save a C-order copy: np.save(path, np.ascontiguousarray(a))');
  }
  if (!(descr in ITEM_SIZE)) {
    const why = descr.startsWith('>') ? 'big-endian data is not supported' : `dtype '${descr}' is not supported (use <f4, <f8, |u1, <i4 or <i8)`;
    throw dataError(`${file}: ${why}`, RESAVE);
  }
  const dtype = descr as NpyDtype;
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw dataError(`${file}: bad shape (${shapeText}) in .npy header`, RESAVE);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const nbytes = count * ITEM_SIZE[dtype];
  const found = buf.length - offset;
  if (found !== nbytes) {
    throw dataError(
      `${file}: shape (${shape.join(', ')}) of ${dtype} needs ${nbytes} data bytes, the file has ${found}${found < nbytes ? ' (truncated)' : ' (trailing bytes)'}`,
      'the file is damaged; save it again',
    );
  }
  const { buffer, byteOffset } = aligned(buf, offset, nbytes, ITEM_SIZE[dtype]);
  switch (dtype) {
    case '<f4':
      return { shape, dtype, data: new Float32Array(buffer, byteOffset, count) };
    case '<f8':
      return { shape, dtype, data: new Float64Array(buffer, byteOffset, count) };
    case '|u1':
      return { shape, dtype, data: new Uint8Array(buffer, byteOffset, count) };
    case '<i4':
      return { shape, dtype, data: new Int32Array(buffer, byteOffset, count) };
    case '<i8': {
      const big = new BigInt64Array(buffer, byteOffset, count);
      const data = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const v = Number(big[i]);
        if (!Number.isSafeInteger(v)) throw dataError(`${file}: int64 value ${big[i]} at flat index ${i} is beyond ±2^53`, 'store it as <f8 or rescale it');
        data[i] = v;
      }
      return { shape, dtype, data };
    }
  }
}

/** Class indices from a label array: integers [N] (any dtype, integral values) or one-hot [N, K]. */
function labelsOf(file: string, a: NpyArray): { y: Int32Array; numClasses: number } {
  if (a.shape.length === 1) {
    const y = new Int32Array(a.shape[0]);
    for (let i = 0; i < y.length; i++) {
      const v = a.data[i];
      if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
        throw dataError(`${file}: label ${v} at index ${i} is not a class index`, 'labels must be non-negative integers [N] or one-hot [N, K]');
      }
      y[i] = v;
    }
    return { y, numClasses: classCountOf(y) };
  }
  if (a.shape.length === 2 && a.shape[1] > 0) {
    const [n, k] = a.shape;
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let hot = -1;
      for (let c = 0; c < k; c++) {
        const v = a.data[i * k + c];
        if (v === 1 && hot < 0) hot = c;
        else if (v !== 0) {
          throw dataError(`${file}: row ${i} is not one-hot (value ${v} at column ${c})`, 'one-hot labels need exactly one 1 per row and 0 elsewhere; pass integer class indices [N] otherwise');
        }
      }
      if (hot < 0) throw dataError(`${file}: row ${i} is all zeros, not one-hot`, 'every row needs exactly one 1');
      y[i] = hot;
    }
    return { y, numClasses: k };
  }
  throw dataError(`${file}: labels have shape (${a.shape.join(', ')})`, 'labels must be class indices [N] or one-hot [N, K]');
}

/** Loads `x.npy` (samples [N, ...]) and `y.npy` (labels) as one pool to be split by the caller. */
export function loadNpyPair(xFile: string, yFile: string, quiet: boolean): Loaded {
  const progress = createProgress({ label: 'loading .npy', total: 2, unit: 'files', quiet });
  const x = readNpy(xFile);
  progress.tick();
  if (x.shape.length < 2 || x.shape.includes(0)) {
    throw dataError(`${xFile}: samples have shape (${x.shape.join(', ')})`, 'x must be [N, ...per-sample shape] with no zero dimension, e.g. (N, 28, 28, 1) or (N, 784)');
  }
  const labels = labelsOf(yFile, readNpy(yFile));
  progress.done();
  if (labels.y.length !== x.shape[0]) {
    throw dataError(`${xFile} has ${x.shape[0]} samples but ${yFile} has ${labels.y.length} labels`, 'x and y must have the same first dimension');
  }
  const shape = x.shape.slice(1);
  return {
    train: memorySource(x.data, labels.y, shape, path.basename(xFile)),
    numClasses: labels.numClasses,
    defaultPreprocess: 'raw',
    classGrouped: false,
    source: `NumPy arrays ${xFile} (${x.dtype}) and ${yFile}`,
    settings: { xFile, yFile, xDtype: x.dtype },
  };
}
