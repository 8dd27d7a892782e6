import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { QnnError } from '../../src/errors';
import { loadDataset, readIdx } from '../../src/data';
import { idxBytes, makeTmp, removeTmp, writeIdx, writeIdxSet } from './fixtures';

let tmp: string;
beforeEach(() => {
  tmp = makeTmp('idx');
});
afterEach(() => removeTmp(tmp));

async function rejects(p: Promise<unknown>, re: RegExp, code = 'QNN_E_DATA'): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(QnnError);
  expect((e as QnnError).code).toBe(code);
  expect((e as QnnError).message).toMatch(re);
}

describe('readIdx', () => {
  test('reads raw and gzipped files identically', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 10);
    writeIdx(path.join(tmp, 'a'), [2, 3, 4], data);
    writeIdx(path.join(tmp, 'a.gz'), [2, 3, 4], data, true);
    for (const f of ['a', 'a.gz']) {
      const r = readIdx(path.join(tmp, f));
      expect(r.dims).toEqual([2, 3, 4]);
      expect(Array.from(r.data)).toEqual(Array.from(data));
    }
  });

  test('wrong magic, wrong type, truncated, trailing bytes, bad gzip', () => {
    const f = path.join(tmp, 'x');
    fs.writeFileSync(f, Buffer.from([1, 2, 3, 4, 5]));
    expect(() => readIdx(f)).toThrow(/not an IDX file \(bad magic number 01020304\)/);
    fs.writeFileSync(f, idxBytes([2], Uint8Array.of(1, 2), 0x0d));
    expect(() => readIdx(f)).toThrow(/element type 0x0d is not supported/);
    fs.writeFileSync(f, idxBytes([3, 2], Uint8Array.of(1, 2, 3, 4, 5)));
    expect(() => readIdx(f)).toThrow(/\[3, 2\] = 6 bytes of data, the file has 5 \(truncated\)/);
    fs.writeFileSync(f, idxBytes([2], Uint8Array.of(1, 2, 3)));
    expect(() => readIdx(f)).toThrow(/trailing bytes/);
    fs.writeFileSync(f, idxBytes([5, 5, 5, 5], new Uint8Array(0)).subarray(0, 10));
    expect(() => readIdx(f)).toThrow(/header with 4 dimensions is truncated/);
    const gz = zlib.gzipSync(idxBytes([100], new Uint8Array(100)));
    fs.writeFileSync(f, gz.subarray(0, gz.length - 10));
    expect(() => readIdx(f)).toThrow(/is not a valid gzip file.*fetch it again/);
    expect(() => readIdx(path.join(tmp, 'missing'))).toThrow(/file not found: .*missing/);
  });
});

describe('idx:<dir>', () => {
  const split = { train: [0, 1, 2, 0, 1, 2, 2], test: [2, 1, 0] };

  test.each([true, false])('official split, values and labels (gz=%s), raw by default', async (gz) => {
    writeIdxSet(tmp, split, 3, 2, gz);
    const d = await loadDataset(`idx:${tmp}`, { quiet: true });
    expect(d.train.count).toBe(7);
    expect(d.test.count).toBe(3);
    expect(d.train.shape).toEqual([3, 2, 1]);
    expect(d.train.numClasses).toBe(3);
    expect(Array.from(d.train.y)).toEqual(split.train);
    expect(Array.from(d.test.y)).toEqual(split.test);
    for (let i = 0; i < 7; i++) for (let p = 0; p < 6; p++) expect(d.train.x[i * 6 + p]).toBe((i * 7 + p) % 256);
    for (let i = 0; i < 3; i++) for (let p = 0; p < 6; p++) expect(d.test.x[i * 6 + p]).toBe((i * 7 + p + 100) % 256);
    expect(d.settings).toMatchObject({ kind: 'idx', split: 'official', preprocess: 'raw', order: 'file', trainCount: 7, testCount: 3 });
    expect(d.description).toMatch(/official train\/test split.*7 train \/ 3 test samples of 3x2x1, 3 classes; preprocess raw/);
  });

  test('unit preprocess and maxTest keep file order', async () => {
    writeIdxSet(tmp, split, 3, 2, false);
    const d = await loadDataset(`idx:${tmp}`, { quiet: true, preprocess: 'unit', maxTrain: 3 });
    expect(d.train.count).toBe(3);
    expect([0, 1, 2].map((c) => Array.from(d.train.y).filter((v) => v === c).length)).toEqual([1, 1, 1]);
    expect(d.test.x[0]).toBe(Math.fround(100 / 255));
  });

  test('missing dir, missing file, swapped files, count mismatch', async () => {
    await rejects(loadDataset(`idx:${path.join(tmp, 'nope')}`, { quiet: true }), /IDX directory not found: .*nope.*t10k-labels-idx1-ubyte/);
    writeIdxSet(tmp, split, 3, 2, true);
    fs.unlinkSync(path.join(tmp, 't10k-labels-idx1-ubyte.gz'));
    await rejects(loadDataset(`idx:${tmp}`, { quiet: true }), /t10k-labels-idx1-ubyte\[\.gz\] not found/);
    writeIdx(path.join(tmp, 't10k-labels-idx1-ubyte'), [2], Uint8Array.of(0, 1));
    await rejects(loadDataset(`idx:${tmp}`, { quiet: true }), /has 3 images but .*t10k-labels-idx1-ubyte has 2 labels/);
    fs.copyFileSync(path.join(tmp, 'train-labels-idx1-ubyte.gz'), path.join(tmp, 'train-images-idx3-ubyte.gz'));
    await rejects(loadDataset(`idx:${tmp}`, { quiet: true }), /magic number 0x00000801, expected 0x00000803/);
    await rejects(loadDataset('idx:', { quiet: true }), /needs a path.*idx:<dir>/);
  });

  test('fashion-mnist:<dir> uses the same reader, names classes, and gives the apt hint when missing', async () => {
    await rejects(loadDataset(`fashion-mnist:${path.join(tmp, 'none')}`, { quiet: true }), /sudo apt-get install dataset-fashion-mnist.*fashion-mnist:<dir>/);
    writeIdxSet(tmp, { train: [9, 0, 3], test: [1, 1] }, 2, 2, true);
    const d = await loadDataset(`fashion-mnist:${tmp}`, { quiet: true });
    expect(d.train.numClasses).toBe(10);
    expect(d.train.classNames?.[9]).toBe('Ankle boot');
    expect(d.train.x[1]).toBe(Math.fround(1 / 255));
    writeIdxSet(tmp, { train: [10], test: [1] }, 2, 2, true);
    await rejects(loadDataset(`fashion-mnist:${tmp}`, { quiet: true }), /label 10 at position 0 is not a Fashion-MNIST class/);
  });
});
