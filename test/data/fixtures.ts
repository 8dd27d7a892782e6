/** Writers for small data files in the exact on-disk formats, used by the data tests. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

/** A fresh temporary directory; remove it with {@link removeTmp}. */
export function makeTmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `qnn-data-${prefix}-`));
}

/** Deletes a directory made by {@link makeTmp}. */
export function removeTmp(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** IDX bytes: 00 00 08 <ndims>, big-endian uint32 dims, then the data. */
export function idxBytes(dims: number[], data: Uint8Array, magicType = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = magicType;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** Writes an IDX file, gzipped when `gz`. */
export function writeIdx(file: string, dims: number[], data: Uint8Array, gz = false): void {
  const bytes = idxBytes(dims, data);
  fs.writeFileSync(file, gz ? zlib.gzipSync(bytes) : bytes);
}

/** Writes the 4-file MNIST layout into `dir`: image i of a split has pixel p = (i*7 + p + offset) % 256, label = labels[i]. */
export function writeIdxSet(dir: string, split: { train: number[]; test: number[] }, rows: number, cols: number, gz: boolean): void {
  for (const [name, labels, offset] of [['train', split.train, 0], ['t10k', split.test, 100]] as const) {
    const n = labels.length;
    const img = new Uint8Array(n * rows * cols);
    for (let i = 0; i < n; i++) for (let p = 0; p < rows * cols; p++) img[i * rows * cols + p] = (i * 7 + p + offset) % 256;
    const ext = gz ? '.gz' : '';
    writeIdx(path.join(dir, `${name}-images-idx3-ubyte${ext}`), [n, rows, cols], img, gz);
    writeIdx(path.join(dir, `${name}-labels-idx1-ubyte${ext}`), [n], Uint8Array.from(labels), gz);
  }
}

/** .npy bytes with a hand-written header (padded so data starts at a multiple of 64). */
export function npyBytes(descr: string, shape: number[], data: Uint8Array, opts: { fortran?: boolean; version?: 1 | 2 } = {}): Buffer {
  const version = opts.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, ' ') + '\n';
  const head = Buffer.alloc(pre);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = version;
  head[7] = 0;
  if (version === 1) head.writeUInt16LE(dict.length, 8);
  else head.writeUInt32LE(dict.length, 8);
  return Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Writes a .npy file from a typed array (little-endian host). */
export function writeNpy(
  file: string,
  descr: string,
  shape: number[],
  data: Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array,
  opts: { fortran?: boolean; version?: 1 | 2 } = {},
): void {
  fs.writeFileSync(file, npyBytes(descr, shape, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), opts));
}
