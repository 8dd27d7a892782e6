/** Small seeded models for pipeline tests (no training needed for the mechanics). */
import type * as tfjs from '@tensorflow/tfjs';

import type { Tf } from '../../src/tf/runtime';

export function mlp(tf: Tf, seed = 1): tfjs.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s });
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1], name: 'flat' }),
      tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(1), name: 'fc1' }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(2), name: 'fc2' }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3), name: 'out' }),
    ],
  });
}

/** Functional CNN with a branch, a residual Add, a depthwise conv and a Dense head. */
export function residualCnn(tf: Tf, seed = 2): tfjs.LayersModel {
  const init = (s: number) => tf.initializers.heUniform({ seed: seed * 10 + s });
  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  const c1 = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1), name: 'c1' }).apply(input) as tfjs.SymbolicTensor;
  const p1 = tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }).apply(c1) as tfjs.SymbolicTensor;
  const a = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2), name: 'branch_a' }).apply(p1) as tfjs.SymbolicTensor;
  const b = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(3), name: 'branch_dw' }).apply(p1) as tfjs.SymbolicTensor;
  const sum = tf.layers.add({ name: 'residual' }).apply([a, b, p1]) as tfjs.SymbolicTensor;
  const c2 = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', kernelInitializer: init(4), name: 'c2' }).apply(sum) as tfjs.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flat' }).apply(c2) as tfjs.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(5), name: 'head' }).apply(flat) as tfjs.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}
