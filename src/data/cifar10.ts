/**
 * CIFAR-10, binary version (cifar-10-binary.tar.gz): `data_batch_1.bin` … `data_batch_5.bin` and
 * `test_batch.bin`, each a run of 3073-byte records = 1 label byte + 32×32 red, then green, then
 * blue bytes (CHW). Samples are converted to NHWC [32, 32, 3].
 */
import * as fs from 'fs';
import * as path from 'path';
import { createProgress } from '../util/progress';
import { dataError, isFile, memorySource, readFileOrThrow, requireDir, type Loaded } from './source';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;
const TRAIN_BATCHES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_BATCH = 'test_batch.bin';
/** Names from the dataset's batches.meta.txt, used when that file is absent. */
const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const HINT =
  'download the binary version (cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, extract it and pass cifar10:<dir> with data_batch_*.bin and test_batch.bin';

/** Reads batch files into one NHWC byte array plus labels. */
function readBatches(files: string[], onFile: () => void): { x: Uint8Array; y: Int32Array } {
  const bufs = files.map((f) => {
    const buf = readFileOrThrow(f, HINT);
    if (buf.length === 0 || buf.length % RECORD !== 0) {
      throw dataError(`${f}: size ${buf.length} bytes is not a positive multiple of the 3073-byte CIFAR-10 record`, 'the file is truncated or not a CIFAR-10 binary batch; extract it again');
    }
    onFile();
    return buf;
  });
  const count = bufs.reduce((a, b) => a + b.length / RECORD, 0);
  const x = new Uint8Array(count * 3 * PLANE);
  const y = new Int32Array(count);
  let n = 0;
  bufs.forEach((buf, f) => {
    for (let r = 0; r < buf.length; r += RECORD, n++) {
      const label = buf[r];
      if (label > 9) throw dataError(`${files[f]}: record ${r / RECORD} has label ${label}, CIFAR-10 labels are 0..9`, 'is this a CIFAR-100 file? only CIFAR-10 is supported');
      y[n] = label;
      const out = n * 3 * PLANE;
      for (let p = 0; p < PLANE; p++) {
        x[out + 3 * p] = buf[r + 1 + p];
        x[out + 3 * p + 1] = buf[r + 1 + PLANE + p];
        x[out + 3 * p + 2] = buf[r + 1 + 2 * PLANE + p];
      }
    }
  });
  return { x, y };
}

/** Class names from batches.meta.txt when present (must list exactly 10), else the standard names. */
function classNamesIn(dir: string): string[] {
  const meta = path.join(dir, 'batches.meta.txt');
  if (!isFile(meta)) return CIFAR10_CLASSES.slice();
  const names = fs.readFileSync(meta, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  if (names.length !== 10) throw dataError(`${meta} lists ${names.length} class names, CIFAR-10 has 10`, 'fix or remove batches.meta.txt');
  return names;
}

/** Loads the official CIFAR-10 split from `dir` (or its `cifar-10-batches-bin` subfolder); missing train batches are skipped. */
export function loadCifar10(dirArg: string, quiet: boolean): Loaded {
  requireDir(dirArg, 'CIFAR-10', HINT);
  const nested = path.join(dirArg, 'cifar-10-batches-bin');
  const dir = !isFile(path.join(dirArg, TEST_BATCH)) && isFile(path.join(nested, TEST_BATCH)) ? nested : dirArg;
  if (!isFile(path.join(dir, TEST_BATCH))) {
    const python = isFile(path.join(dir, 'data_batch_1')) ? ' (this looks like the Python version; the binary version is needed)' : '';
    throw dataError(`CIFAR-10: ${path.join(dir, TEST_BATCH)} not found${python}`, HINT);
  }
  const trainFiles = TRAIN_BATCHES.map((b) => path.join(dir, b)).filter(isFile);
  if (trainFiles.length === 0) throw dataError(`CIFAR-10: no data_batch_1.bin … data_batch_5.bin in ${dir}`, HINT);
  const progress = createProgress({ label: 'loading CIFAR-10', total: trainFiles.length + 1, unit: 'batches', quiet });
  const train = readBatches(trainFiles, () => progress.tick());
  const test = readBatches([path.join(dir, TEST_BATCH)], () => progress.tick());
  progress.done();
  const shape = [SIDE, SIDE, 3];
  return {
    train: memorySource(train.x, train.y, shape, 'CIFAR-10 train'),
    test: memorySource(test.x, test.y, shape, 'CIFAR-10 test'),
    numClasses: 10,
    classNames: classNamesIn(dir),
    defaultPreprocess: 'unit',
    classGrouped: false,
    source: `CIFAR-10 binary batches in ${dir} (train: ${trainFiles.map((f) => path.basename(f)).join(', ')})`,
    settings: { dir, trainFiles, testFile: path.join(dir, TEST_BATCH) },
  };
}
