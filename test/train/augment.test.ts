import { augmentBatch, checkAugmentation, describeAugmentation } from '../../src/train/augment';
import { deviationsFromPaper } from '../../src/train/recipes';
import { Rng32 } from '../../src/util/rng';

/** A 3x4 single-channel image with pixel value 10*row + col. */
function image(): Float32Array {
  return Float32Array.from({ length: 12 }, (_, i) => 10 * Math.floor(i / 4) + (i % 4));
}

/** Finds the seed-driven shift the RNG will draw, by replaying it. */
function draws(seed: number, maxDy: number, maxDx: number, flip: boolean) {
  const r = new Rng32(seed);
  const dy = maxDy ? r.below(2 * maxDy + 1) - maxDy : 0;
  const dx = maxDx ? r.below(2 * maxDx + 1) - maxDx : 0;
  const f = flip ? r.next() >>> 31 === 1 : false;
  return { dy, dx, f };
}

describe('training augmentation', () => {
  it('shifts with edge pixels repeated (Keras "nearest" fill), as the seeded draw says', () => {
    for (let seed = 0; seed < 40; seed++) {
      const x = image();
      augmentBatch(x, 1, [3, 4, 1], { shift: 0.34 }, new Rng32(seed)); // max shift 1 px each way
      const { dy, dx } = draws(seed, 1, 1, false);
      for (let y = 0; y < 3; y++) {
        for (let c = 0; c < 4; c++) {
          const sy = Math.min(2, Math.max(0, y - dy));
          const sx = Math.min(3, Math.max(0, c - dx));
          expect(x[y * 4 + c]).toBe(10 * sy + sx);
        }
      }
    }
  });

  it('flips horizontally half of the time, deterministically for a seed', () => {
    let flipped = 0;
    for (let seed = 0; seed < 200; seed++) {
      const x = image();
      augmentBatch(x, 1, [3, 4, 1], { flip: true }, new Rng32(seed));
      const { f } = draws(seed, 0, 0, true);
      expect(Array.from(x.subarray(0, 4))).toEqual(f ? [3, 2, 1, 0] : [0, 1, 2, 3]);
      if (f) flipped++;
    }
    expect(flipped).toBeGreaterThan(70);
    expect(flipped).toBeLessThan(130);
  });

  it('keeps channels together and validates its options', () => {
    const x = Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => i);
    augmentBatch(x, 1, [2, 2, 3], { flip: true }, new Rng32(3));
    const f = draws(3, 0, 0, true).f;
    expect(Array.from(x.subarray(0, 6))).toEqual(f ? [3, 4, 5, 0, 1, 2] : [0, 1, 2, 3, 4, 5]);
    expect(() => checkAugmentation({ shift: 1.5 })).toThrow(/shift must be in \[0, 1\)/);
    expect(() => augmentBatch(new Float32Array(4), 1, [4], { flip: true }, new Rng32(0))).toThrow(/image samples/);
  });

  it('is recorded against the paper settings', () => {
    expect(describeAugmentation({ shift: 0.1, flip: true })).toBe('width/height shift 0.1 and horizontal flip');
    expect(describeAugmentation(undefined)).toBe('none');
    const run = { data: 'cifar10:/d', preprocess: 'unit' as const, epochs: 400, batchSize: 64, optimizer: 'sgd-momentum' as const, learningRate: 0.001, validationFraction: 0, trainCount: 50000 };
    expect(deviationsFromPaper('cnn', { ...run, augmentation: 'width/height shift 0.1 and horizontal flip' }).some((d) => /augmentation/.test(d))).toBe(false);
    expect(deviationsFromPaper('cnn', run).some((d) => /no data augmentation/.test(d))).toBe(true);
    expect(deviationsFromPaper('mnist-mlp', { ...run, data: 'mnist', preprocess: 'raw', augmentation: 'width/height shift 0.1' }).some((d) => /data augmentation: width\/height shift 0.1 \(the paper used none\)/.test(d))).toBe(true);
  });
});
