/**
 * The `train.json` record that `qnn-native train` writes next to a model's files, and how other
 * commands find it (to default to the data spec and preprocessing a model was trained with).
 */
import { promises as fsp } from 'fs';
import * as path from 'path';

import { QnnError } from '../errors';
import type { EpochRecord } from './train';
import type { PaperSettings, RecipeName, TrainingSettings } from './recipes';

/** File name of the training record inside a model directory. */
export const TRAIN_JSON = 'train.json';

/** Contents of train.json. */
export interface TrainRecord {
  tool: string;
  createdAt: string;
  recipe: RecipeName;
  recipeDescription: string;
  parameters: number;
  /** The dataset as loaded: spec, loader description and settings (seed, split, counts). */
  data: { spec: string; description: string; settings: Record<string, unknown> };
  settings: TrainingSettings & {
    data: string;
    seed: number;
    dataSeed: number;
    maxTrain?: number;
    validationFraction: number;
    loss: string;
    shuffle: string;
    augmentation: string;
  };
  paper: PaperSettings | null;
  /** Every departure from the paper's training (see deviationsFromPaper). */
  deviations: string[];
  trainCount: number;
  validationCount: number;
  history: EpochRecord[];
  /** Accuracy on the dataset's test split after training. */
  test: { top1: number; top5: number; count: number };
  /** TF.js runtime used (backend, package, version, reason). */
  tfjs: unknown;
  node: string;
  timings: { loadSeconds: number; trainSeconds: number; testSeconds: number; totalSeconds: number };
}

/**
 * The train.json beside the model at `modelPath` (a model directory or a file inside one), or
 * undefined when there is none. Throws QNN_E_MODEL when it exists but is not valid JSON.
 */
export async function findTrainRecord(modelPath: string): Promise<TrainRecord | undefined> {
  let dir = modelPath;
  try {
    if (!(await fsp.stat(modelPath)).isDirectory()) dir = path.dirname(modelPath);
  } catch {
    return undefined;
  }
  const file = path.join(dir, TRAIN_JSON);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as TrainRecord;
  } catch (e) {
    throw new QnnError('QNN_E_MODEL', `${file} is not valid JSON (${(e as Error).message})`, {
      cause: e,
      hint: 'Remove or repair it, or pass --data and --preprocess explicitly',
    });
  }
}
