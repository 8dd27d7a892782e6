import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { QnnError } from '../../src/errors';
import { loadDataset } from '../../src/data';
import { makeTmp, removeTmp } from './fixtures';

let tmp: string;
beforeEach(() => {
  tmp = makeTmp('images');
});
afterEach(() => removeTmp(tmp));

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(QnnError);
  expect((e as QnnError).code).toBe('QNN_E_DATA');
  expect((e as QnnError).message).toMatch(re);
}

/** Writes an RGB image whose pixel (x, y) is fn(x, y). */
async function writeImage(file: string, w: number, h: number, fn: (x: number, y: number) => [number, number, number], format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<void> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(fn(x, y), (y * w + x) * 3);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  await (format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg({ quality: 95 }) : img.webp({ lossless: true })).toFile(file);
}

/** Solid colour of class c, image k. */
const colour = (c: number, k: number): [number, number, number] => [40 * c + 20, 10 * k, 200 - 30 * c];

/** `dir/<class>/img<k>.png` for classes given as image counts; sizes vary so resizing is exercised. */
async function writeClasses(dir: string, names: string[], counts: number[]): Promise<void> {
  for (let c = 0; c < names.length; c++) {
    for (let k = 0; k < counts[c]; k++) await writeImage(path.join(dir, names[c], `img${k}.png`), 24 + 3 * k, 18 + 2 * c, () => colour(c, k));
  }
}

/** Checks that every sample is a solid colour matching its label; returns the per-sample k. */
function checkSolid(ds: { x: Float32Array; y: Int32Array; count: number; shape: number[] }): number[] {
  const row = ds.shape[0] * ds.shape[1] * 3;
  const ks: number[] = [];
  for (let j = 0; j < ds.count; j++) {
    const [r, g, b] = ds.x.subarray(j * row, j * row + 3);
    const c = ds.y[j];
    expect(r).toBe(40 * c + 20);
    expect(b).toBe(200 - 30 * c);
    for (let i = 0; i < row; i++) expect(ds.x[j * row + i]).toBe(ds.x[j * row + (i % 3)]);
    ks.push(g / 10);
  }
  return ks;
}

describe('images:<dir>', () => {
  test('centre crop geometry, NHWC layout and Python rounding of crop offsets', async () => {
    // Images with the short side = resize are not resampled, so pixel values identify their source position.
    const code = (x: number, y: number): [number, number, number] => [x * 5, y * 10, 7];
    for (const split of ['train', 'val']) {
      await writeImage(path.join(tmp, split, 'a', 'even.png'), 40, 20, code); // left = 16, top = 6
      await writeImage(path.join(tmp, split, 'b', 'half-even.png'), 41, 20, code); // (41-8)/2 = 16.5 -> 16
      await writeImage(path.join(tmp, split, 'c', 'half-odd.png'), 20, 43, code); // (43-8)/2 = 17.5 -> 18 (top), left 6
    }
    const d = await loadDataset(`images:${tmp}?size=8&resize=20&kernel=nearest`, { quiet: true, preprocess: 'raw' });
    expect(d.train.count).toBe(3);
    expect(d.test.count).toBe(3);
    expect(d.train.shape).toEqual([8, 8, 3]);
    expect(d.train.classNames).toEqual(['a', 'b', 'c']);
    const offsets = [[16, 6], [16, 6], [6, 18]];
    for (const ds of [d.train, d.test]) {
      for (let j = 0; j < ds.count; j++) {
        const [left, top] = offsets[ds.y[j]];
        for (let i = 0; i < 8; i++) for (let k = 0; k < 8; k++) {
          const o = (j * 64 + i * 8 + k) * 3;
          expect([ds.x[o], ds.x[o + 1], ds.x[o + 2]]).toEqual([(left + k) * 5, (top + i) * 10, 7]);
        }
      }
    }
  });

  test('seeded stratified split, seeded order, deterministic, resize of varied sizes', async () => {
    await writeClasses(tmp, ['cat', 'dog', 'eel'], [5, 5, 4]);
    const opts = { quiet: true, preprocess: 'raw' as const, seed: 3 };
    const d = await loadDataset(`images:${tmp}?size=8&resize=10&kernel=cubic`, opts);
    expect(d.test.count).toBe(3); // round(0.2 * 5) = 1, round(0.2 * 4) = 1
    expect(d.train.count).toBe(11);
    expect(d.train.numClasses).toBe(3);
    const seen = new Set<string>();
    for (const ds of [d.train, d.test]) checkSolid(ds).forEach((k, j) => seen.add(`${ds.y[j]}/${k}`));
    expect(seen.size).toBe(14);
    const again = await loadDataset(`images:${tmp}?size=8&resize=10&kernel=cubic`, opts);
    expect(Array.from(again.train.x)).toEqual(Array.from(d.train.x));
    expect(Array.from(again.test.y)).toEqual(Array.from(d.test.y));
    expect(Array.from(d.train.y)).not.toEqual([...d.train.y].sort()); // not class-grouped
    expect(d.settings).toMatchObject({ kind: 'images', size: 8, resize: 10, kernel: 'cubic', split: 'stratified', order: 'seeded' });
  });

  test('train/ and val/ folders are the split; maxTrain samples per class; grey, alpha, JPEG and WebP inputs', async () => {
    await writeClasses(path.join(tmp, 'train'), ['n01', 'n02'], [4, 4]);
    await writeImage(path.join(tmp, 'val', 'n02', 'x.webp'), 30, 30, () => colour(1, 3), 'webp');
    const grey = Buffer.alloc(20 * 20, 90);
    fs.mkdirSync(path.join(tmp, 'val', 'n01'));
    await sharp(grey, { raw: { width: 20, height: 20, channels: 1 } }).png().toFile(path.join(tmp, 'val', 'n01', 'grey.png'));
    const rgba = Buffer.alloc(20 * 20 * 4);
    for (let i = 0; i < 400; i++) rgba.set([70, 130, 10, 77], i * 4);
    await sharp(rgba, { raw: { width: 20, height: 20, channels: 4 } }).png().toFile(path.join(tmp, 'val', 'n01', 'rgba.png'));
    await writeImage(path.join(tmp, 'val', 'n01', 'solid.jpg'), 20, 20, () => colour(0, 2), 'jpeg');

    const d = await loadDataset(`images:${tmp}?size=6&resize=8`, { quiet: true, preprocess: 'raw', maxTrain: 4 });
    expect(d.settings).toMatchObject({ split: 'official', trainDir: path.join(tmp, 'train'), testDir: path.join(tmp, 'val') });
    expect(d.train.count).toBe(4);
    expect(Array.from(d.train.y).filter((c) => c === 0).length).toBe(2);
    checkSolid(d.train);
    expect(d.test.count).toBe(4);
    const row = 6 * 6 * 3;
    const first = (j: number) => Array.from(d.test.x.subarray(j * row, j * row + 3));
    const byLabel = (c: number) => Array.from(d.test.y.keys()).filter((j) => d.test.y[j] === c);
    const n01 = byLabel(0).map(first).map((p) => p.join());
    expect(n01).toEqual(expect.arrayContaining(['90,90,90', '70,130,10']));
    const jpeg = byLabel(0).map(first).find((p) => p[0] !== 90 && p[0] !== 70)!;
    colour(0, 2).forEach((v, i) => expect(Math.abs(jpeg[i] - v)).toBeLessThanOrEqual(3));
    expect(byLabel(1).map(first)).toEqual([colour(1, 3)]);
  });

  test('default preprocess is imagenet-torch', async () => {
    await writeClasses(tmp, ['a', 'b'], [3, 3]);
    const d = await loadDataset(`images:${tmp}?size=4&resize=4`, { quiet: true, testFraction: 0.34 });
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const [r, , b] = colour(d.train.y[0], 0);
    expect(d.train.x[0]).toBeCloseTo((r / 255 - mean[0]) / std[0], 5);
    expect(d.train.x[2]).toBeCloseTo((b / 255 - mean[2]) / std[2], 5);
    expect(d.settings.preprocess).toBe('imagenet-torch');
  });

  test('errors: missing dir, no classes, empty class, undecodable file, unknown val class, bad options', async () => {
    await rejects(loadDataset(`images:${path.join(tmp, 'none')}`, { quiet: true }), /image directory not found/);
    await rejects(loadDataset(`images:${tmp}`, { quiet: true }), /no class subfolders in/);
    await writeClasses(tmp, ['a', 'b'], [2, 2]);
    fs.mkdirSync(path.join(tmp, 'c'));
    fs.writeFileSync(path.join(tmp, 'c', 'notes.txt'), 'x');
    await rejects(loadDataset(`images:${tmp}`, { quiet: true }), /class folder .*c has no \.jpg\/\.jpeg\/\.png\/\.webp images/);
    fs.writeFileSync(path.join(tmp, 'c', 'broken.jpg'), 'not a jpeg');
    await rejects(loadDataset(`images:${tmp}?size=4&resize=4`, { quiet: true, testFraction: 0.5 }), /cannot decode image .*broken\.jpg/);
    fs.rmSync(path.join(tmp, 'c'), { recursive: true });
    await rejects(loadDataset(`images:${tmp}?size=300&resize=256`, { quiet: true }), /size=300 is larger than resize=256/);
    await rejects(loadDataset(`images:${tmp}?crop=3`, { quiet: true }), /unknown option 'crop'/);
    await rejects(loadDataset(`images:${tmp}?size=0`, { quiet: true }), /size=0 is not a positive integer/);
    await rejects(loadDataset(`images:${tmp}?kernel=bilinear`, { quiet: true }), /unknown kernel 'bilinear'.*nearest, linear, cubic/);
    const split = path.join(tmp, 'split');
    await writeClasses(path.join(split, 'train'), ['a'], [1]);
    await writeClasses(path.join(split, 'test'), ['a', 'zzz'], [1, 1]);
    await rejects(loadDataset(`images:${split}`, { quiet: true }), /class folder .*zzz has no counterpart in the training folder/);
  });
});
