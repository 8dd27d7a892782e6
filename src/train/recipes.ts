/**
 * Model recipes: the reference architectures of Lybrand & Saab (ALGORITHMS.md §3.5) and a tiny
 * CNN for tests. Every initializer is seeded (one derived seed per layer), and layers get stable,
 * Keras-style names (`dense_1`, `conv2d_1`, `batch_normalization_1`, …) that quantization reports
 * refer to.
 */
import type * as tfjs from '@tensorflow/tfjs';

import type { Preprocess } from '../data';
import { QnnError } from '../errors';
import { getTf } from '../tf/runtime';
import { mixSeed } from '../util/rng';

/** Names of the built-in recipes. */
export type RecipeName = 'mnist-mlp' | 'cnn' | 'smoke';

/** Optimizers the trainer can build (see `makeOptimizer` in train.ts). */
export type OptimizerName = 'adam' | 'sgd-momentum' | 'sgd';

/** The settings every description of a training run has (recipe defaults, paper, train.json). */
export interface TrainingSettings {
  /** Input preprocessing the model is trained with. */
  preprocess: Preprocess;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  learningRate: number;
}

/** Default training settings of a recipe (what `qnn-native train <recipe>` uses). */
export interface RecipeDefaults extends TrainingSettings {
  /** Dataset spec for `loadDataset`. */
  data: string;
  /** Keep at most this many training images (undefined: all). */
  maxTrain?: number;
}

/** The reference paper's training settings (ALGORITHMS.md §3.5), to list deviations from. */
export interface PaperSettings extends TrainingSettings {
  /** Dataset kind as in a spec (`cifar10`), or a name no spec matches (`keras-mnist`). */
  dataKind: string;
  /** Human description of the paper's data. */
  data: string;
  validationFraction: number;
  /** Training-time augmentation, when the paper used any (we never augment). */
  augmentation?: string;
}

/** A recipe: what it builds, its defaults, and the paper settings it reproduces. */
export interface RecipeInfo {
  name: RecipeName;
  description: string;
  defaults: RecipeDefaults;
  paper?: PaperSettings;
}

/** The built-in recipes. */
export const RECIPES: Readonly<Record<RecipeName, RecipeInfo>> = {
  'mnist-mlp': {
    name: 'mnist-mlp',
    description:
      'Lybrand & Saab MNIST MLP: Flatten, Dense 500 ReLU, BatchNorm, Dense 300 ReLU, BatchNorm, Dense 10 softmax (Glorot-uniform), raw 0..255 pixels',
    defaults: { data: 'mnist', preprocess: 'raw', epochs: 30, batchSize: 128, optimizer: 'adam', learningRate: 0.001 },
    paper: {
      dataKind: 'keras-mnist',
      data: 'Keras MNIST, 60,000 train / 10,000 test images',
      preprocess: 'raw',
      epochs: 100,
      batchSize: 128,
      optimizer: 'adam',
      learningRate: 0.001,
      validationFraction: 0.2,
    },
  },
  cnn: {
    name: 'cnn',
    description:
      'Lybrand & Saab CIFAR-10 CNN: 3 blocks [Conv N, BN, Conv N, BN, MaxPool 2, Dropout .2/.3/.4] for N = 32, 64, 128 (3x3 ReLU he_uniform same), Flatten, Dense 128 ReLU he_uniform, BN, Dropout .5, Dense 10 softmax',
    defaults: { data: 'fashion-mnist', preprocess: 'unit', epochs: 3, batchSize: 64, optimizer: 'adam', learningRate: 0.001 },
    paper: {
      dataKind: 'cifar10',
      data: 'CIFAR-10, 50,000 train / 10,000 test images (32x32x3)',
      preprocess: 'unit',
      epochs: 400,
      batchSize: 64,
      optimizer: 'sgd-momentum',
      learningRate: 0.001,
      validationFraction: 0,
      augmentation: 'width/height shift 0.1 and horizontal flip',
    },
  },
  smoke: {
    name: 'smoke',
    description: 'Tiny test CNN: Conv 4 3x3 ReLU, MaxPool 2, Flatten, Dense softmax',
    defaults: { data: 'mnist', preprocess: 'unit', epochs: 2, batchSize: 32, optimizer: 'adam', learningRate: 0.01 },
  },
};

/** The settings of one training run, as compared by {@link deviationsFromPaper}. */
export interface RunSettings extends TrainingSettings {
  /** Dataset spec as given to loadDataset. */
  data: string;
  validationFraction: number;
  /** Training images actually used (after maxTrain and the validation hold-out). */
  trainCount: number;
  /** describeAugmentation() of the run ('none' without augmentation). */
  augmentation?: string;
}

/**
 * Every way `run` departs from the paper's training of `recipe` (none for recipes without a
 * paper), as sentences for train.json and the model READMEs.
 */
export function deviationsFromPaper(recipe: RecipeName, run: RunSettings): string[] {
  const paper = RECIPES[recipe].paper;
  if (!paper) return [];
  const out: string[] = [];
  const kind = run.data.split(':')[0];
  if (kind !== paper.dataKind) out.push(`data: ${run.data} (${run.trainCount} training images) instead of ${paper.data}`);
  if (run.preprocess !== paper.preprocess) out.push(`preprocess ${run.preprocess} instead of ${paper.preprocess}`);
  if (run.epochs !== paper.epochs) out.push(`${run.epochs} epochs instead of ${paper.epochs}`);
  if (run.batchSize !== paper.batchSize) out.push(`batch size ${run.batchSize} instead of ${paper.batchSize}`);
  if (run.optimizer !== paper.optimizer || run.learningRate !== paper.learningRate) {
    out.push(`optimizer ${run.optimizer} lr ${run.learningRate} instead of ${paper.optimizer} lr ${paper.learningRate}`);
  }
  if (run.validationFraction !== paper.validationFraction) {
    out.push(`validation fraction ${run.validationFraction} instead of ${paper.validationFraction}`);
  }
  const aug = run.augmentation ?? 'none';
  if ((paper.augmentation ?? 'none') !== aug) {
    out.push(aug === 'none' ? `no data augmentation (the paper used ${paper.augmentation})` : `data augmentation: ${aug} (the paper used ${paper.augmentation ?? 'none'})`);
  }
  return out;
}

/** Options of {@link buildModel}. */
export interface BuildOptions {
  /** Per-sample input shape, e.g. [28, 28, 1]. */
  inputShape: number[];
  numClasses: number;
  /** Seeds every initializer (layer k uses mixSeed(seed, k)). */
  seed: number;
}

/** Throws QNN_E_VALUE unless `name` is a recipe. */
export function checkRecipe(name: unknown): RecipeName {
  if (typeof name === 'string' && Object.prototype.hasOwnProperty.call(RECIPES, name)) return name as RecipeName;
  throw new QnnError('QNN_E_VALUE', `unknown recipe '${String(name)}'`, { hint: `use one of ${Object.keys(RECIPES).join(', ')}` });
}

function checkImageShape(recipe: RecipeName, shape: number[], minSide: number): void {
  if (shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d < 1) || shape[0] < minSide || shape[1] < minSide) {
    throw new QnnError('QNN_E_SHAPE', `recipe '${recipe}' needs H×W×C image inputs with H, W ≥ ${minSide}, got [${shape.join(', ')}]`, {
      hint: 'use an image dataset (e.g. mnist, fashion-mnist, cifar10:<dir>)',
    });
  }
}

/**
 * Builds (uncompiled) the model of `recipe` for the given input shape and class count; see
 * {@link RECIPES} for the architectures. Throws QNN_E_SHAPE for inputs the recipe cannot take.
 */
export async function buildModel(recipe: RecipeName, opts: BuildOptions): Promise<tfjs.Sequential> {
  const tf = await getTf();
  checkRecipe(recipe);
  const { inputShape, numClasses, seed } = opts;
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new QnnError('QNN_E_VALUE', `numClasses must be an integer ≥ 2 (got ${numClasses})`);
  }
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new QnnError('QNN_E_SHAPE', `input shape must be positive integers, got [${inputShape.join(', ')}]`);
  }
  if (recipe === 'cnn') checkImageShape(recipe, inputShape, 8);
  if (recipe === 'smoke') checkImageShape(recipe, inputShape, 4);

  const layers: tfjs.layers.Layer[] = [];
  const counts = new Map<string, number>();
  const name = (kind: string): string => {
    const n = (counts.get(kind) ?? 0) + 1;
    counts.set(kind, n);
    return `${kind}_${n}`;
  };
  const layerSeed = (): number => mixSeed(seed, layers.length);
  const first = (): { inputShape?: number[] } => (layers.length === 0 ? { inputShape } : {});

  const dense = (units: number, activation: 'relu' | 'softmax', init: 'glorot' | 'he'): void => {
    const kernelInitializer = (init === 'he' ? tf.initializers.heUniform : tf.initializers.glorotUniform)({ seed: layerSeed() });
    layers.push(tf.layers.dense({ ...first(), units, activation, kernelInitializer, useBias: true, name: name('dense') }));
  };
  const batchNorm = (): void => {
    layers.push(tf.layers.batchNormalization({ name: name('batch_normalization') }));
  };
  const flatten = (): void => {
    layers.push(tf.layers.flatten({ ...first(), name: name('flatten') }));
  };

  switch (recipe) {
    case 'mnist-mlp':
      flatten();
      dense(500, 'relu', 'glorot');
      batchNorm();
      dense(300, 'relu', 'glorot');
      batchNorm();
      dense(numClasses, 'softmax', 'glorot');
      break;
    case 'cnn':
      for (const [filters, rate] of [[32, 0.2], [64, 0.3], [128, 0.4]]) {
        for (let k = 0; k < 2; k++) {
          const kernelInitializer = tf.initializers.heUniform({ seed: layerSeed() });
          layers.push(
            tf.layers.conv2d({ ...first(), filters, kernelSize: 3, activation: 'relu', padding: 'same', kernelInitializer, name: name('conv2d') }),
          );
          batchNorm();
        }
        layers.push(tf.layers.maxPooling2d({ poolSize: 2, name: name('max_pooling2d') }));
        layers.push(tf.layers.dropout({ rate, name: name('dropout') }));
      }
      flatten();
      dense(128, 'relu', 'he');
      batchNorm();
      layers.push(tf.layers.dropout({ rate: 0.5, name: name('dropout') }));
      dense(numClasses, 'softmax', 'glorot');
      break;
    case 'smoke': {
      const kernelInitializer = tf.initializers.glorotUniform({ seed: layerSeed() });
      layers.push(tf.layers.conv2d({ inputShape, filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer, name: name('conv2d') }));
      layers.push(tf.layers.maxPooling2d({ poolSize: 2, name: name('max_pooling2d') }));
      flatten();
      dense(numClasses, 'softmax', 'glorot');
      break;
    }
  }
  return tf.sequential({ layers, name: recipe.replace(/-/g, '_') });
}
