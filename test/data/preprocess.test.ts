import { QnnError } from '../../src/errors';
import { applyPreprocess, PREPROCESS_NAMES, type Preprocess } from '../../src/data';

/** Two RGB pixels: (10, 20, 30) and (255, 0, 128). */
const pixels = () => Float32Array.from([10, 20, 30, 255, 0, 128]);
const shape = [1, 2, 3];
const f = Math.fround;

describe('applyPreprocess', () => {
  test('raw leaves values, returns the same array', () => {
    const x = pixels();
    expect(applyPreprocess(x, shape, 'raw')).toBe(x);
    expect(Array.from(x)).toEqual([10, 20, 30, 255, 0, 128]);
  });

  test('unit divides by 255 in place', () => {
    const x = pixels();
    expect(applyPreprocess(x, shape, 'unit')).toBe(x);
    expect(Array.from(x)).toEqual([10, 20, 30, 255, 0, 128].map((v) => f(v / 255)));
  });

  test('imagenet-tf maps 0..255 to -1..1', () => {
    const x = applyPreprocess(pixels(), shape, 'imagenet-tf');
    expect(Array.from(x)).toEqual([10, 20, 30, 255, 0, 128].map((v) => f(v / 127.5 - 1)));
    expect(x[3]).toBe(1);
    expect(x[4]).toBe(-1);
  });

  test('imagenet-caffe swaps to BGR and subtracts the BGR means', () => {
    const x = applyPreprocess(pixels(), shape, 'imagenet-caffe');
    const expected = [30 - 103.939, 20 - 116.779, 10 - 123.68, 128 - 103.939, 0 - 116.779, 255 - 123.68].map(f);
    expect(Array.from(x)).toEqual(expected);
  });

  test('imagenet-torch: (x/255 - mean) / std per RGB channel', () => {
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const x = applyPreprocess(pixels(), shape, 'imagenet-torch');
    const src = [10, 20, 30, 255, 0, 128];
    src.forEach((v, i) => expect(x[i]).toBeCloseTo((v / 255 - mean[i % 3]) / std[i % 3], 5));
  });

  test('per-channel presets need 3 channels; unknown names are rejected', () => {
    const grey = Float32Array.from([1, 2, 3, 4]);
    expect(() => applyPreprocess(grey, [2, 2, 1], 'imagenet-torch')).toThrow(/needs RGB samples.*\[2, 2, 1\]/);
    expect(() => applyPreprocess(grey, [2, 2, 1], 'imagenet-caffe')).toThrow(QnnError);
    expect(Array.from(applyPreprocess(grey, [2, 2, 1], 'imagenet-tf'))).toEqual([1, 2, 3, 4].map((v) => f(v / 127.5 - 1)));
    expect(() => applyPreprocess(grey, [4], 'bogus' as Preprocess)).toThrow(/unknown preprocess 'bogus'.*raw, unit/);
    expect(PREPROCESS_NAMES).toEqual(['raw', 'unit', 'imagenet-caffe', 'imagenet-torch', 'imagenet-tf']);
  });
});
