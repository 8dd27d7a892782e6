import * as fs from 'fs';
import * as path from 'path';
import { QnnError } from '../../src/errors';
import { loadDataset } from '../../src/data';
import { makeTmp, removeTmp } from './fixtures';

let tmp: string;
beforeEach(() => {
  tmp = makeTmp('cifar');
});
afterEach(() => removeTmp(tmp));

/** Stored (CHW) byte of record `i` in file `seed`, channel c, pixel p. */
const value = (seed: number, i: number, c: number, p: number) => (seed * 31 + i * 7 + c * 50 + p) % 256;

/** Writes a batch of `n` records with label (i + seed) % 10 and known CHW pixel values. */
function writeBatch(dir: string, name: string, n: number, seed: number): void {
  const buf = Buffer.alloc(n * 3073);
  for (let i = 0; i < n; i++) {
    buf[i * 3073] = (i + seed) % 10;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) buf[i * 3073 + 1 + c * 1024 + p] = value(seed, i, c, p);
  }
  fs.writeFileSync(path.join(dir, name), buf);
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(QnnError);
  expect((e as QnnError).code).toBe('QNN_E_DATA');
  expect((e as QnnError).message).toMatch(re);
}

describe('cifar10:<dir>', () => {
  test('CHW records become NHWC samples; available train batches are concatenated in order', async () => {
    writeBatch(tmp, 'data_batch_1.bin', 3, 1);
    writeBatch(tmp, 'data_batch_3.bin', 2, 3);
    writeBatch(tmp, 'test_batch.bin', 4, 9);
    const d = await loadDataset(`cifar10:${tmp}`, { quiet: true, preprocess: 'raw' });
    expect(d.train.shape).toEqual([32, 32, 3]);
    expect(d.train.count).toBe(5);
    expect(d.test.count).toBe(4);
    expect(Array.from(d.train.y)).toEqual([1, 2, 3, 3, 4]);
    expect(Array.from(d.test.y)).toEqual([9, 0, 1, 2]);
    const origin = [[1, 0], [1, 1], [1, 2], [3, 0], [3, 1]];
    origin.forEach(([seed, i], n) => {
      for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) {
        if (d.train.x[(n * 1024 + p) * 3 + c] !== value(seed, i, c, p)) throw new Error(`train sample ${n} pixel ${p} channel ${c}`);
      }
    });
    // Spot check by (row, col): pixel at row 5, col 7 of test sample 2, green channel.
    expect(d.test.x[(2 * 1024 + 5 * 32 + 7) * 3 + 1]).toBe(value(9, 2, 1, 5 * 32 + 7));
    expect(d.train.classNames).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    expect(d.settings).toMatchObject({ kind: 'cifar10', split: 'official', trainFiles: [path.join(tmp, 'data_batch_1.bin'), path.join(tmp, 'data_batch_3.bin')] });
  });

  test('unit by default, class names from batches.meta.txt, nested cifar-10-batches-bin folder', async () => {
    const nested = path.join(tmp, 'cifar-10-batches-bin');
    fs.mkdirSync(nested);
    writeBatch(nested, 'data_batch_2.bin', 2, 0);
    writeBatch(nested, 'test_batch.bin', 1, 0);
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    fs.writeFileSync(path.join(nested, 'batches.meta.txt'), names.join('\n') + '\n\n');
    const d = await loadDataset(`cifar10:${tmp}`, { quiet: true });
    expect(d.test.x[0]).toBe(Math.fround(value(0, 0, 0, 0) / 255));
    expect(d.test.x[1]).toBe(Math.fround(value(0, 0, 1, 0) / 255));
    expect(d.test.classNames).toEqual(names);
    expect(d.settings.preprocess).toBe('unit');
  });

  test('errors: missing dir, missing test batch, no train batch, bad size, bad label, bad meta', async () => {
    await rejects(loadDataset(`cifar10:${path.join(tmp, 'x')}`, { quiet: true }), /CIFAR-10 directory not found.*cifar-10-binary\.tar\.gz/);
    writeBatch(tmp, 'data_batch_1.bin', 1, 0);
    await rejects(loadDataset(`cifar10:${tmp}`, { quiet: true }), /test_batch\.bin not found/);
    fs.writeFileSync(path.join(tmp, 'data_batch_1'), 'pickle');
    await rejects(loadDataset(`cifar10:${tmp}`, { quiet: true }), /looks like the Python version/);
    writeBatch(tmp, 'test_batch.bin', 1, 0);
    fs.unlinkSync(path.join(tmp, 'data_batch_1.bin'));
    await rejects(loadDataset(`cifar10:${tmp}`, { quiet: true }), /no data_batch_1\.bin … data_batch_5\.bin/);
    fs.writeFileSync(path.join(tmp, 'data_batch_1.bin'), Buffer.alloc(3073 * 2 - 1));
    await rejects(loadDataset(`cifar10:${tmp}`, { quiet: true }), /size 6145 bytes is not a positive multiple of the 3073-byte/);
    const bad = Buffer.alloc(3073);
    bad[0] = 12;
    fs.writeFileSync(path.join(tmp, 'data_batch_1.bin'), bad);
    await rejects(loadDataset(`cifar10:${tmp}`, { quiet: true }), /record 0 has label 12/);
    writeBatch(tmp, 'data_batch_1.bin', 1, 0);
    fs.writeFileSync(path.join(tmp, 'batches.meta.txt'), 'cat\ndog\n');
    await rejects(loadDataset(`cifar10:${tmp}`, { quiet: true }), /lists 2 class names, CIFAR-10 has 10/);
  });
});
