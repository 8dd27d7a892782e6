/**
 * Input preprocessing presets used by the reference papers (ALGORITHMS.md §3.5, §4.4): raw pixels
 * (Lybrand MNIST), /255 (CIFAR-10, Fashion-MNIST), and the three ImageNet conventions.
 */
import { QnnError } from '../errors';
import type { Preprocess } from './types';

/** Every accepted preset, in help order. */
export const PREPROCESS_NAMES: readonly Preprocess[] = ['raw', 'unit', 'imagenet-caffe', 'imagenet-torch', 'imagenet-tf'];

const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68];
const TORCH_MEAN = [0.485, 0.456, 0.406];
const TORCH_STD = [0.229, 0.224, 0.225];

/** Throws QNN_E_VALUE unless `p` names a preset. */
export function checkPreprocess(p: unknown): Preprocess {
  if (typeof p === 'string' && (PREPROCESS_NAMES as readonly string[]).includes(p)) return p as Preprocess;
  throw new QnnError('QNN_E_VALUE', `unknown preprocess '${String(p)}'`, { hint: `use one of ${PREPROCESS_NAMES.join(', ')}` });
}

/**
 * Applies preset `p` to samples `x` (NHWC rows of per-sample `shape`, values 0..255 for the image
 * presets) **in place** and returns `x`. The per-channel presets (`imagenet-caffe`,
 * `imagenet-torch`) need a last dimension of 3 (RGB).
 */
export function applyPreprocess(x: Float32Array, shape: number[], p: Preprocess): Float32Array {
  checkPreprocess(p);
  switch (p) {
    case 'raw':
      return x;
    case 'unit':
      for (let i = 0; i < x.length; i++) x[i] = x[i] / 255;
      return x;
    case 'imagenet-tf':
      for (let i = 0; i < x.length; i++) x[i] = x[i] / 127.5 - 1;
      return x;
    case 'imagenet-caffe':
    case 'imagenet-torch':
      break;
  }
  if (shape[shape.length - 1] !== 3 || x.length % 3 !== 0) {
    throw new QnnError('QNN_E_SHAPE', `preprocess '${p}' needs RGB samples (last dimension 3), got shape [${shape.join(', ')}]`, {
      hint: "use 'raw', 'unit' or 'imagenet-tf' for other inputs",
    });
  }
  if (p === 'imagenet-caffe') {
    for (let i = 0; i < x.length; i += 3) {
      const r = x[i];
      x[i] = x[i + 2] - CAFFE_BGR_MEAN[0];
      x[i + 1] = x[i + 1] - CAFFE_BGR_MEAN[1];
      x[i + 2] = r - CAFFE_BGR_MEAN[2];
    }
  } else {
    for (let i = 0; i < x.length; i += 3) {
      for (let c = 0; c < 3; c++) x[i + c] = (x[i + c] / 255 - TORCH_MEAN[c]) / TORCH_STD[c];
    }
  }
  return x;
}
