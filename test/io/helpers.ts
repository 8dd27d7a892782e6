/** Shared fixtures for the src/io tests: small seeded models, temp dirs, error assertions. */
import { mkdtempSync, rmSync } from 'fs';
import * as os from 'os';
import * as path from 'path';

import type * as tfjs from '@tensorflow/tfjs';

import { QnnError, type QnnErrorCode } from '../../src/errors';
import { getTf, type Tf } from '../../src/tf/runtime';
import { Rng32 } from '../../src/util/rng';
import { expectCode, rejectionOf } from '../helpers';

/** A fresh temp directory and a function that removes it. */
export function tmpDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qnn-io-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Registers hooks: the TF.js runtime (beforeAll) and a fresh temporary directory per test. */
export function ioHooks(): { tf: Tf; tmp: ReturnType<typeof tmpDir> } {
  const io = {} as { tf: Tf; tmp: ReturnType<typeof tmpDir> };
  beforeAll(async () => {
    io.tf = await getTf();
  });
  beforeEach(() => {
    io.tmp = tmpDir();
  });
  afterEach(() => io.tmp.cleanup());
  return io;
}

/** Sets every weight to seeded normal values (moving variances positive). */
export function randomize(tf: Tf, model: tfjs.LayersModel, seed: number): void {
  const rng = new Rng32(seed);
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const n = w.shape.reduce((a: number, b) => a * (b as number), 1);
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) v[i] = w.originalName.endsWith('moving_variance') ? 0.5 + Math.abs(rng.normal()) : 0.5 * rng.normal();
      return tf.tensor(v, w.shape as number[]);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** Dense 6 → 5 (relu) → 3 (softmax). */
export function mlp(tf: Tf, seed = 1): tfjs.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu' }));
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  randomize(tf, m, seed);
  return m;
}

/** Conv2D → BatchNormalization → DepthwiseConv2D → Flatten → Dense on 6×6×2 inputs. */
export function cnn(tf: Tf, seed = 2): tfjs.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.batchNormalization());
  m.add(tf.layers.depthwiseConv2d({ kernelSize: 2, depthMultiplier: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 4 }));
  randomize(tf, m, seed);
  return m;
}

/** Functional: x → Dense 4 (relu) and Dense 4 → Add → Dense 2. */
export function functionalAdd(tf: Tf, seed = 3): tfjs.LayersModel {
  const x = tf.input({ shape: [6] });
  const a = tf.layers.dense({ units: 4, activation: 'relu' }).apply(x) as tfjs.SymbolicTensor;
  const b = tf.layers.dense({ units: 4 }).apply(x) as tfjs.SymbolicTensor;
  const s = tf.layers.add().apply([a, b]) as tfjs.SymbolicTensor;
  const y = tf.layers.dense({ units: 2 }).apply(s) as tfjs.SymbolicTensor;
  const m = tf.model({ inputs: x, outputs: y });
  randomize(tf, m, seed);
  return m;
}

/** Seeded inputs for a model with one input: a batch of 4. */
export function inputsFor(model: tfjs.LayersModel, seed = 9): { values: Float32Array; shape: number[] } {
  const shape = [4, ...(model.inputs[0].shape.slice(1) as number[])];
  const rng = new Rng32(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return { values, shape };
}

/** Output of `model` on the seeded inputs. */
export function predict(tf: Tf, model: tfjs.LayersModel, seed = 9): Float32Array {
  const { values, shape } = inputsFor(model, seed);
  return tf.tidy(() => (model.predict(tf.tensor(values, shape)) as tfjs.Tensor).dataSync() as Float32Array);
}

/** Weights by manifest name. */
export function weightMap(model: tfjs.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync())]));
}

/** Asserts that `p` rejects with a QnnError of `code` whose message contains every fragment. */
export async function expectQnnError(p: Promise<unknown>, code: QnnErrorCode, ...fragments: string[]): Promise<QnnError> {
  const q = expectCode(await rejectionOf(p), code);
  for (const f of fragments) expect(q.message).toContain(f);
  return q;
}
