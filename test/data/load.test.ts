import * as fs from 'fs';
import * as path from 'path';
import { QnnError } from '../../src/errors';
import { describeDatasetSpecs, loadDataset, type LoadOptions, type Preprocess } from '../../src/data';
import { makeTmp, removeTmp, writeIdxSet, writeNpy } from './fixtures';

let tmp: string;
let spec: string;
/** 120 samples of one value each (= sample index); classes 0..3 with 60, 30, 20, 10 samples. */
beforeAll(() => {
  tmp = makeTmp('load');
  const y = Int32Array.from({ length: 120 }, (_, i) => (i < 60 ? 0 : i < 90 ? 1 : i < 110 ? 2 : 3));
  writeNpy(path.join(tmp, 'x.npy'), '<f4', [120, 1], Float32Array.from({ length: 120 }, (_, i) => i));
  writeNpy(path.join(tmp, 'y.npy'), '<i4', [120], y);
  spec = `npy:${path.join(tmp, 'x.npy')},${path.join(tmp, 'y.npy')}`;
});
afterAll(() => removeTmp(tmp));

const load = (opts: LoadOptions = {}) => loadDataset(spec, { quiet: true, ...opts });
const ids = (x: Float32Array) => Array.from(x);
const perClass = (y: Int32Array) => [0, 1, 2, 3].map((c) => Array.from(y).filter((v) => v === c).length);

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(QnnError);
  expect((e as QnnError).code).toBe(code);
  expect((e as QnnError).message).toMatch(re);
}

describe('loadDataset splits', () => {
  test('same seed, same splits and order; other seed, other split; never overlapping', async () => {
    const a = await load({ seed: 4 });
    const b = await load({ seed: 4 });
    const c = await load({ seed: 5 });
    expect(ids(a.train.x)).toEqual(ids(b.train.x));
    expect(ids(a.test.x)).toEqual(ids(b.test.x));
    expect(ids(a.test.x).sort()).not.toEqual(ids(c.test.x).sort());
    for (const d of [a, c]) {
      const all = new Set([...ids(d.train.x), ...ids(d.test.x)]);
      expect(all.size).toBe(120);
      expect(perClass(d.test.y)).toEqual([12, 6, 4, 2]);
    }
    // Loader-made splits are served in seeded random order, not class-grouped.
    expect(ids(a.train.x)).not.toEqual(ids(a.train.x).sort((p, q) => p - q));
    expect(a.settings).toMatchObject({ seed: 4, order: 'seeded', trainCount: 96, testCount: 24 });
  });

  test('testFraction, maxTrain and maxTest give stratified subsets of the split', async () => {
    const d = await load({ testFraction: 0.5, maxTrain: 12, maxTest: 6 });
    expect(perClass(d.test.y)).toEqual([3, 2, 1, 0]); // quotas of 6 over 30/15/10/5: 3, 1.5, 1, 0.5 -> 3, 2, 1, 0
    expect(perClass(d.train.y)).toEqual([6, 3, 2, 1]);
    const full = await load({ testFraction: 0.5 });
    const fullTrain = new Set(ids(full.train.x));
    for (const v of ids(d.train.x)) expect(fullTrain.has(v)).toBe(true);
    expect(d.settings).toMatchObject({ testFraction: 0.5, maxTrain: 12, maxTest: 6 });
    expect(d.description).toMatch(/seeded class-stratified split, testFraction 0\.5 \(stratified subsets: maxTrain 12, maxTest 6\), seed 0; 12 train \/ 6 test samples of 1, 4 classes; preprocess raw/);
    expect((await load({ maxTrain: 1000 })).train.count).toBe(96);
  });

  test('official splits keep file order and note an ignored testFraction', async () => {
    const dir = path.join(tmp, 'idx');
    fs.mkdirSync(dir);
    writeIdxSet(dir, { train: [0, 1, 0, 1], test: [1, 0] }, 1, 1, false);
    const d = await loadDataset(`idx:${dir}`, { quiet: true, testFraction: 0.3 });
    expect(ids(d.train.x)).toEqual([0, 7, 14, 21]);
    expect(d.description).toMatch(/file order; testFraction ignored \(official split\)/);
    expect(d.settings.testFraction).toBeUndefined();
  });
});

describe('loadDataset errors', () => {
  test('unknown or malformed specs name the accepted forms', async () => {
    await rejects(loadDataset('svhn', { quiet: true }), 'QNN_E_DATA', /unknown dataset spec 'svhn'.*mnist.*fashion-mnist.*idx:<dir>.*cifar10:<dir>.*images:<dir>.*npy:<x\.npy>,<y\.npy>/s);
    await rejects(loadDataset('mnist:/tmp', { quiet: true }), 'QNN_E_DATA', /mnist takes no argument/);
    await rejects(loadDataset('cifar10:', { quiet: true }), 'QNN_E_DATA', /needs a path/);
    await rejects(loadDataset('images:?size=3', { quiet: true }), 'QNN_E_DATA', /needs a directory/);
  });

  test('bad options are range / value errors', async () => {
    await rejects(load({ testFraction: 0 }), 'QNN_E_RANGE', /testFraction must be in \(0, 1\), got 0/);
    await rejects(load({ testFraction: 1 }), 'QNN_E_RANGE', /testFraction/);
    await rejects(load({ maxTrain: 0 }), 'QNN_E_RANGE', /maxTrain must be a positive integer/);
    await rejects(load({ maxTest: 2.5 }), 'QNN_E_RANGE', /maxTest must be a positive integer/);
    await rejects(load({ seed: 0.5 }), 'QNN_E_RANGE', /seed must be an integer/);
    await rejects(load({ preprocess: 'minmax' as Preprocess }), 'QNN_E_VALUE', /unknown preprocess 'minmax'/);
    await rejects(load({ preprocess: 'imagenet-caffe' }), 'QNN_E_SHAPE', /needs RGB samples/);
    await rejects(load({ testFraction: 0.001 }), 'QNN_E_DATA', /the test split is empty.*raise testFraction/);
  });

  test('describeDatasetSpecs lists every form and preset', () => {
    const text = describeDatasetSpecs();
    for (const s of ['mnist', 'fashion-mnist[:<dir>]', 'idx:<dir>', 'cifar10:<dir>', 'images:<dir>[?size=224&resize=256&kernel=cubic]', 'npy:<x.npy>,<y.npy>']) expect(text).toContain(s);
    for (const p of ['raw', 'unit', 'imagenet-caffe', 'imagenet-torch', 'imagenet-tf']) expect(text).toContain(p);
  });
});
