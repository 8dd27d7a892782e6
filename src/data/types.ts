/**
 * Types shared by the dataset loaders. Everything here is re-exported from `src/data/index.ts`,
 * which is the module other code imports.
 */

/**
 * Input preprocessing applied after loading (see {@link applyPreprocess}):
 * - `raw`: values as stored (0..255 for image formats, the stored numbers for .npy);
 * - `unit`: x / 255;
 * - `imagenet-caffe`: RGB→BGR, then subtract the BGR means [103.939, 116.779, 123.68] (Keras caffe mode);
 * - `imagenet-torch`: x / 255, then (x − [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] per RGB channel;
 * - `imagenet-tf`: x / 127.5 − 1.
 */
export type Preprocess = 'raw' | 'unit' | 'imagenet-caffe' | 'imagenet-torch' | 'imagenet-tf';

/** A labelled set of samples held in memory. */
export interface Dataset {
  /** count × prod(shape) values, row-major, NHWC per sample. */
  x: Float32Array;
  /** Class index of each sample, in [0, numClasses). */
  y: Int32Array;
  /** Number of samples. */
  count: number;
  /** Per-sample shape, e.g. [28, 28, 1] or [32, 32, 3]. */
  shape: number[];
  /** Number of classes (labels are 0..numClasses-1). */
  numClasses: number;
  /** Human-readable class names, index = label, when the source provides them. */
  classNames?: string[];
}

/** A train/test pair as returned by `loadDataset`. */
export interface DataSplits {
  /** Calibration / training split. */
  train: Dataset;
  /** Evaluation split. */
  test: Dataset;
  /** The spec string as given. */
  spec: string;
  /** Human text: source, split rule, sizes, preprocessing. */
  description: string;
  /** Everything needed to reproduce the splits (seed, fractions, resolved paths, ...). */
  settings: Record<string, unknown>;
}

/** Options of `loadDataset`. */
export interface LoadOptions {
  /** Default 0; every random choice (split, sampling, order) derives from it. */
  seed?: number;
  /** Default: per dataset (mnist, idx, npy: 'raw'; fashion-mnist, cifar10: 'unit'; images: 'imagenet-torch'). */
  preprocess?: Preprocess;
  /** Fraction of each class put in the test split, for sets without an official split (default 0.2). */
  testFraction?: number;
  /** Keep a seeded, class-stratified subset of at most this many training samples. */
  maxTrain?: number;
  /** Keep a seeded, class-stratified subset of at most this many test samples. */
  maxTest?: number;
  /** No progress output. */
  quiet?: boolean;
}
