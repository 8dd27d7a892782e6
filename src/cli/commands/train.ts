/**
 * `qnn-native train <recipe>`: trains one of the built-in models (src/train/recipes.ts) on a
 * dataset and saves it as a TF.js layers-model directory with a `train.json` record beside the
 * weights (recipe, data, every setting, deviations from the paper, history, test accuracy,
 * TF.js backend, timings).
 */
import { randomBytes } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';

import type { Argv, CommandModule } from 'yargs';

import { describeDatasetSpecs, loadDataset, PREPROCESS_NAMES, type Preprocess } from '../../data';
import { QnnError, toQnnError } from '../../errors';
import { percent } from '../../eval/evaluate';
import { checkOutputDir } from '../../io/internal';
import { saveModel } from '../../io/model_io';
import { getTf, tfRuntimeInfo } from '../../tf/runtime';
import { describeAugmentation } from '../../train/augment';
import { buildModel, checkRecipe, deviationsFromPaper, RECIPES, type OptimizerName, type RecipeName } from '../../train/recipes';
import { TRAIN_JSON, type TrainRecord } from '../../train/record';
import { trainModel } from '../../train/train';

const OPTIMIZERS: readonly OptimizerName[] = ['adam', 'sgd-momentum', 'sgd'];

interface Args {
  recipe: string;
  data?: string;
  preprocess?: Preprocess;
  epochs?: number;
  'batch-size'?: number;
  lr?: number;
  optimizer?: OptimizerName;
  seed: number;
  'data-seed': number;
  'max-train'?: number;
  'validation-fraction': number;
  out?: string;
  force: boolean;
  json: boolean;
  quiet: boolean;
  'augment-shift'?: number;
  'augment-flip': boolean;
}

function defaultsText(pick: (d: (typeof RECIPES)[RecipeName]['defaults']) => unknown): string {
  return Object.values(RECIPES)
    .map((r) => `${r.name}: ${String(pick(r.defaults))}`)
    .join(', ');
}

/** Checks an optional numeric option: a positive integer, or (fraction) a number in [0, 1). */
function checkNumber(name: string, v: number | undefined, kind: 'int' | 'int0' | 'positive' | 'fraction'): void {
  if (v === undefined) return;
  const ok =
    kind === 'int' ? Number.isInteger(v) && v >= 1
    : kind === 'int0' ? Number.isInteger(v) && v >= 0
    : kind === 'positive' ? Number.isFinite(v) && v > 0
    : v >= 0 && v < 1;
  if (!ok) {
    const want = { int: 'a positive integer', int0: 'an integer ≥ 0', positive: 'a positive number', fraction: 'a number in [0, 1)' }[kind];
    throw new QnnError('QNN_E_RANGE', `--${name} must be ${want} (got ${v})`);
  }
}

/** Writes `file` atomically (temporary file in the same directory, then rename). */
async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fsp.writeFile(tmp, text);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw toQnnError(e, `writing ${file}`);
  }
}

const command: CommandModule<object, Args> = {
  command: 'train <recipe>',
  describe: 'Train a built-in model (mnist-mlp, cnn, smoke) and save it with a train.json record',
  builder: (y: Argv<object>) =>
    y
      .positional('recipe', { type: 'string', choices: Object.keys(RECIPES), describe: 'Model recipe', demandOption: true })
      .option('data', { type: 'string', describe: `Dataset spec (default: ${defaultsText((d) => d.data)})` })
      .option('preprocess', { type: 'string', choices: PREPROCESS_NAMES, describe: `Input preprocessing (default: ${defaultsText((d) => d.preprocess)})` })
      .option('epochs', { type: 'number', describe: `Epochs (default: ${defaultsText((d) => d.epochs)})` })
      .option('batch-size', { type: 'number', describe: `Batch size (default: ${defaultsText((d) => d.batchSize)})` })
      .option('lr', { type: 'number', describe: `Learning rate (default: ${defaultsText((d) => d.learningRate)})` })
      .option('optimizer', { type: 'string', choices: OPTIMIZERS, describe: 'Optimizer: adam (Keras defaults), sgd-momentum (0.9) or sgd (default: per recipe)' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the weight initialisation, batch order and dropout masks' })
      .option('data-seed', { type: 'number', default: 0, describe: 'Seed of the dataset split/subsets (keep 0 to train and test on the standard split)' })
      .option('max-train', { type: 'number', describe: 'Train on a seeded, class-stratified subset of at most this many images' })
      .option('validation-fraction', { type: 'number', default: 0, describe: 'Hold out the last fraction of the training split and report its accuracy per epoch' })
      .option('augment-shift', { type: 'number', describe: 'Random width/height shifts up to this fraction of the image (e.g. 0.1; edge pixels repeated)' })
      .option('augment-flip', { type: 'boolean', default: false, describe: 'Random horizontal flips' })
      .option('out', { type: 'string', describe: 'Output model directory (default: trained-<recipe>)' })
      .option('force', { type: 'boolean', default: false, describe: 'Replace an existing output directory' })
      .epilog(describeDatasetSpecs()) as unknown as Argv<Args>,
  handler: async (argv) => {
    const recipe = checkRecipe(argv.recipe);
    const defaults = RECIPES[recipe].defaults;
    const settings = {
      data: argv.data ?? defaults.data,
      preprocess: argv.preprocess ?? defaults.preprocess,
      epochs: argv.epochs ?? defaults.epochs,
      batchSize: argv['batch-size'] ?? defaults.batchSize,
      optimizer: argv.optimizer ?? defaults.optimizer,
      learningRate: argv.lr ?? defaults.learningRate,
      seed: argv.seed,
      dataSeed: argv['data-seed'],
      maxTrain: argv['max-train'] ?? defaults.maxTrain,
      validationFraction: argv['validation-fraction'],
    };
    checkNumber('epochs', settings.epochs, 'int');
    checkNumber('batch-size', settings.batchSize, 'int');
    checkNumber('lr', settings.learningRate, 'positive');
    checkNumber('seed', settings.seed, 'int0');
    checkNumber('data-seed', settings.dataSeed, 'int0');
    checkNumber('max-train', settings.maxTrain, 'int');
    checkNumber('validation-fraction', settings.validationFraction, 'fraction');
    checkNumber('augment-shift', argv['augment-shift'], 'fraction');
    const augment = argv['augment-shift'] || argv['augment-flip'] ? { shift: argv['augment-shift'], flip: argv['augment-flip'] } : undefined;
    const augmentation = augment ? describeAugmentation(augment) : 'none';
    const out = path.resolve(argv.out ?? `trained-${recipe}`);
    await checkOutputDir(out, argv.force);

    const t0 = Date.now();
    await getTf();
    const data = await loadDataset(settings.data, {
      seed: settings.dataSeed,
      preprocess: settings.preprocess,
      maxTrain: settings.maxTrain,
      quiet: argv.quiet,
    });
    const loadSeconds = (Date.now() - t0) / 1000;
    const model = await buildModel(recipe, { inputShape: data.train.shape, numClasses: data.train.numClasses, seed: settings.seed });
    const result = await trainModel(model, data, { ...settings, augment, quiet: argv.quiet });
    const test = result.test!;
    const record: TrainRecord = {
      tool: 'qnn-native train',
      createdAt: new Date().toISOString(),
      recipe,
      recipeDescription: RECIPES[recipe].description,
      parameters: model.countParams(),
      data: { spec: data.spec, description: data.description, settings: data.settings },
      settings: { ...settings, loss: 'categoricalCrossentropy', shuffle: 'seeded permutation per epoch', augmentation },
      paper: RECIPES[recipe].paper ?? null,
      deviations: deviationsFromPaper(recipe, { ...settings, augmentation, trainCount: result.trainCount }),
      trainCount: result.trainCount,
      validationCount: result.validationCount,
      history: result.history,
      test: { top1: test.top1, top5: test.top5, count: test.count },
      tfjs: tfRuntimeInfo(),
      node: process.version,
      timings: { loadSeconds, trainSeconds: result.trainSeconds, testSeconds: test.seconds, totalSeconds: (Date.now() - t0) / 1000 },
    };
    await saveModel(model, out, {
      overwrite: argv.force,
      metadata: { qnnTrain: { recipe, data: data.spec, preprocess: settings.preprocess, dataSeed: settings.dataSeed, testTop1: test.top1 } },
    });
    await writeFileAtomic(path.join(out, TRAIN_JSON), `${JSON.stringify(record, null, 2)}\n`);
    model.dispose();

    if (argv.json) {
      process.stdout.write(`${JSON.stringify({ out, ...record })}\n`);
      return;
    }
    process.stdout.write(
      [
        `saved ${out} (${recipe}, ${record.parameters.toLocaleString('en-US')} parameters) and ${TRAIN_JSON}`,
        `test top-1 ${percent(test.top1)}, top-5 ${percent(test.top5)} on ${test.count} images of ${data.spec}`,
        `trained ${settings.epochs} epochs on ${result.trainCount} images in ${result.trainSeconds.toFixed(1)} s (TF.js ${tfRuntimeInfo()?.backend})`,
      ].join('\n') + '\n',
    );
  },
};

export default command;
