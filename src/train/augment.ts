/**
 * Seeded data augmentation for training batches (NHWC, in place): the Keras ImageDataGenerator
 * settings of the Lybrand CIFAR-10 recipe — random width/height shifts by a fraction of the image
 * size and random horizontal flips — with integer shifts and Keras' default 'nearest' fill (edge
 * pixels repeated).
 */
import { QnnError } from '../errors';
import type { Rng32 } from '../util/rng';

export interface Augmentation {
  /** Maximum shift as a fraction of height / width (e.g. 0.1); each sample draws an integer shift. */
  shift?: number;
  /** Flip each sample horizontally with probability 1/2. */
  flip?: boolean;
}

export function checkAugmentation(a: Augmentation): void {
  if (a.shift !== undefined && !(a.shift >= 0 && a.shift < 1)) {
    throw new QnnError('QNN_E_RANGE', `augmentation shift must be in [0, 1) (got ${a.shift})`);
  }
}

/** Augments the first `count` samples of `x` (each of `shape` = [h, w, c]) in place. */
export function augmentBatch(x: Float32Array, count: number, shape: readonly number[], a: Augmentation, rng: Rng32): void {
  if (shape.length !== 3) throw new QnnError('QNN_E_SHAPE', `augmentation needs image samples [h, w, c] (got [${shape.join(', ')}])`);
  const [h, w, c] = shape;
  const size = h * w * c;
  const maxDy = Math.round((a.shift ?? 0) * h);
  const maxDx = Math.round((a.shift ?? 0) * w);
  const src = new Float32Array(size);
  for (let n = 0; n < count; n++) {
    const dy = maxDy ? rng.below(2 * maxDy + 1) - maxDy : 0;
    const dx = maxDx ? rng.below(2 * maxDx + 1) - maxDx : 0;
    const flip = a.flip ? rng.next() >>> 31 === 1 : false;
    if (dy === 0 && dx === 0 && !flip) continue;
    const img = x.subarray(n * size, (n + 1) * size);
    src.set(img);
    for (let y = 0; y < h; y++) {
      const sy = Math.min(h - 1, Math.max(0, y - dy));
      for (let xx = 0; xx < w; xx++) {
        const tx = flip ? w - 1 - xx : xx;
        const sx = Math.min(w - 1, Math.max(0, tx - dx));
        const o = (y * w + xx) * c;
        const s = (sy * w + sx) * c;
        for (let k = 0; k < c; k++) img[o + k] = src[s + k];
      }
    }
  }
}

/** Human text for records: e.g. 'shift 0.1, horizontal flip' or 'none'. */
export function describeAugmentation(a: Augmentation | undefined): string {
  const parts = [];
  if (a?.shift) parts.push(`width/height shift ${a.shift}`);
  if (a?.flip) parts.push('horizontal flip');
  return parts.length ? parts.join(' and ') : 'none';
}
