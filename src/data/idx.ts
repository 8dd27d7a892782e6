/**
 * IDX files (the MNIST / Fashion-MNIST format): big-endian header `00 00 <type> <ndims>`, one
 * uint32 per dimension, then the values. Only unsigned-byte files (type 0x08) exist in practice
 * and only those are read. Gzip is detected from the content, not the file name.
 */
import * as path from 'path';
import * as zlib from 'zlib';
import { createProgress } from '../util/progress';
import { classCountOf, dataError, isFile, memorySource, readFileOrThrow, requireDir, type Loaded } from './source';
import type { Preprocess } from './types';

/** A decoded IDX file. */
export interface IdxArray {
  /** Dimensions from the header, e.g. [60000, 28, 28] for images, [60000] for labels. */
  dims: number[];
  /** prod(dims) unsigned bytes, row-major. */
  data: Uint8Array;
}

const IDX_HINT = 'IDX files start with 00 00 08 <ndims> (MNIST format); re-download the file if it is damaged';

/** Reads an IDX file of unsigned bytes, gzipped or not; corrupt, truncated or non-byte files are QNN_E_DATA. */
export function readIdx(file: string): IdxArray {
  let buf = readFileOrThrow(file, 'check the path');
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      throw dataError(`${file} is not a valid gzip file (${(e as Error).message})`, 'the download is probably truncated; fetch it again', e);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw dataError(`${file} is not an IDX file (bad magic number ${buf.subarray(0, 4).toString('hex') || '<empty>'})`, IDX_HINT);
  }
  if (buf[2] !== 0x08) {
    throw dataError(`${file}: IDX element type 0x${buf[2].toString(16).padStart(2, '0')} is not supported`, 'only unsigned-byte IDX files (type 0x08) are read');
  }
  const nd = buf[3];
  const headerLen = 4 + 4 * nd;
  if (nd === 0 || buf.length < headerLen) throw dataError(`${file}: IDX header with ${nd} dimensions is truncated or empty`, IDX_HINT);
  const dims: number[] = [];
  for (let d = 0; d < nd; d++) dims.push(buf.readUInt32BE(4 + 4 * d));
  const expected = dims.reduce((a, b) => a * b, 1);
  const found = buf.length - headerLen;
  if (found !== expected) {
    throw dataError(
      `${file}: header says [${dims.join(', ')}] = ${expected} bytes of data, the file has ${found}${found < expected ? ' (truncated)' : ' (trailing bytes)'}`,
      'the file is damaged; fetch it again',
    );
  }
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + headerLen, expected) };
}

/** The four files of the MNIST layout, without the optional `.gz`. */
const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

/** Where to find an IDX set and how to present it. */
export interface IdxSetInfo {
  /** Dataset name used in messages and the description. */
  name: string;
  /** The fix to suggest when the directory or a file is missing. */
  missingHint: string;
  defaultPreprocess: Preprocess;
  classNames?: string[];
}

function readImagesAndLabels(dir: string, split: 'train' | 'test', info: IdxSetInfo) {
  const base = split === 'train' ? [IDX_FILES.trainImages, IDX_FILES.trainLabels] : [IDX_FILES.testImages, IDX_FILES.testLabels];
  const [imgFile, lblFile] = base.map((b) => {
    const found = [`${b}.gz`, b].map((n) => path.join(dir, n)).find(isFile);
    if (!found) throw dataError(`${info.name}: ${path.join(dir, b)}[.gz] not found`, info.missingHint);
    return found;
  });
  const images = readIdx(imgFile);
  if (images.dims.length !== 3) {
    throw dataError(`${imgFile}: magic number 0x0000080${images.dims.length}, expected 0x00000803 (images: count x rows x cols)`, 'is this a label file in the place of an image file?');
  }
  const labels = readIdx(lblFile);
  if (labels.dims.length !== 1) {
    throw dataError(`${lblFile}: magic number 0x0000080${labels.dims.length}, expected 0x00000801 (labels: count)`, 'is this an image file in the place of a label file?');
  }
  if (images.dims[0] !== labels.dims[0]) {
    throw dataError(`${info.name} ${split}: ${imgFile} has ${images.dims[0]} images but ${lblFile} has ${labels.dims[0]} labels`, 'the two files must come from the same release');
  }
  if (images.dims[0] === 0) throw dataError(`${imgFile} holds no images`, info.missingHint);
  const [, rows, cols] = images.dims;
  return { shape: [rows, cols, 1], x: images.data, y: Int32Array.from(labels.data), files: [imgFile, lblFile] };
}

/** Loads the official train/test IDX pair from `dir` (MNIST file names, each optionally gzipped). */
export function loadIdxDir(dir: string, info: IdxSetInfo, quiet: boolean): Loaded {
  requireDir(dir, info.name, info.missingHint);
  const progress = createProgress({ label: `loading ${info.name}`, total: 2, unit: 'splits', quiet });
  const train = readImagesAndLabels(dir, 'train', info);
  progress.tick();
  const test = readImagesAndLabels(dir, 'test', info);
  progress.done();
  if (train.shape.join() !== test.shape.join()) {
    throw dataError(`${info.name}: train images are ${train.shape.slice(0, 2).join('x')} but test images are ${test.shape.slice(0, 2).join('x')}`, 'both splits must have the same image size');
  }
  const numClasses = info.classNames?.length ?? classCountOf(train.y, test.y);
  for (const s of [train, test]) {
    const bad = s.y.findIndex((c) => c >= numClasses);
    if (bad >= 0) throw dataError(`${s.files[1]}: label ${s.y[bad]} at position ${bad} is not a ${info.name} class (0..${numClasses - 1})`, 'the label file is damaged or from another dataset');
  }
  return {
    train: memorySource(train.x, train.y, train.shape, `${info.name} train`),
    test: memorySource(test.x, test.y, test.shape, `${info.name} test`),
    numClasses,
    ...(info.classNames ? { classNames: info.classNames } : {}),
    defaultPreprocess: info.defaultPreprocess,
    classGrouped: false,
    source: `${info.name} IDX files in ${dir}`,
    settings: { dir, files: [...train.files, ...test.files] },
  };
}
