/** Shared fixtures of the train / eval tests: synthetic datasets and error assertions. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import type { Dataset } from '../../src/data';
import type { QnnErrorCode } from '../../src/errors';
import type { Tf } from '../../src/tf/runtime';
import { Rng32 } from '../../src/util/rng';
import { expectCode, rejectionOf } from '../helpers';

/** Awaits `p` and checks it rejects with a QnnError of `code` whose message matches `msg`. */
export async function expectQnnError(p: Promise<unknown> | (() => unknown), code: QnnErrorCode, msg?: RegExp): Promise<void> {
  expectCode(await rejectionOf(p), code, msg);
}

/**
 * `count` seeded h×w×1 images in 4 classes: class k is the quadrant k bright (value 1) on a noisy
 * dark background (uniform 0..0.3), so a tiny CNN separates them easily.
 */
export function quadrants(count: number, seed: number, h = 8, w = 8): Dataset {
  const rng = new Rng32(seed);
  const x = new Float32Array(count * h * w);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % 4;
    y[i] = k;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const quadrant = (r < h / 2 ? 0 : 2) + (c < w / 2 ? 0 : 1);
        x[(i * h + r) * w + c] = quadrant === k ? 1 : 0.3 * rng.uniform();
      }
    }
  }
  return { x, y, count, shape: [h, w, 1], numClasses: 4 };
}

/** A temporary directory, removed by `cleanup`. */
export function tmpDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qnn-train-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * DepthwiseConv2D (3x3, multiplier 2) → Flatten → Dense 4 softmax on `inputShape`, initialised from
 * `seed` and `seed + 1`: the model whose training needs the cpu backend (no wasm gradients).
 */
export function depthwiseModel(tf: Tf, inputShape: number[], seed: number): tfjs.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.depthwiseConv2d({ inputShape, kernelSize: 3, depthMultiplier: 2, depthwiseInitializer: tf.initializers.glorotUniform({ seed }), name: 'depthwise_conv2d_1' }),
      tf.layers.flatten({ name: 'flatten_1' }),
      tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: 'dense_1' }),
    ],
  });
}
