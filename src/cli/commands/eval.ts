/**
 * `qnn-native eval --model <path> --data <spec>`: top-1 / top-5 accuracy of a model (analog or
 * quantized) on a dataset's test split. Without --data (and --preprocess, --data-seed), the
 * values recorded in the train.json beside the model are used.
 */
import type { Argv, CommandModule } from 'yargs';

import { describeDatasetSpecs, loadDataset, PREPROCESS_NAMES, type Preprocess } from '../../data';
import { QnnError } from '../../errors';
import { DEFAULT_EVAL_BATCH, evaluate, percent } from '../../eval/evaluate';
import { loadModel } from '../../io/model_io';
import { getTf, tfRuntimeInfo } from '../../tf/runtime';
import { findTrainRecord, TRAIN_JSON } from '../../train/record';

interface Args {
  model: string;
  data?: string;
  preprocess?: Preprocess;
  'data-seed'?: number;
  'max-test'?: number;
  'batch-size': number;
  json: boolean;
  quiet: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'eval',
  describe: 'Measure the top-1 / top-5 accuracy of a model on the test split of a dataset',
  builder: (y: Argv<object>) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'Model directory, model.json or Keras .h5 file' })
      .option('data', { type: 'string', describe: `Dataset spec (default: the one in the model's ${TRAIN_JSON})` })
      .option('preprocess', { type: 'string', choices: PREPROCESS_NAMES, describe: `Input preprocessing (default: ${TRAIN_JSON}'s, else the dataset's default)` })
      .option('data-seed', { type: 'number', describe: `Seed of the dataset split (default: ${TRAIN_JSON}'s, else 0)` })
      .option('max-test', { type: 'number', describe: 'Evaluate a seeded, class-stratified subset of at most this many test images' })
      .option('batch-size', { type: 'number', default: DEFAULT_EVAL_BATCH, describe: 'Images per inference call' })
      .epilog(describeDatasetSpecs()) as unknown as Argv<Args>,
  handler: async (argv) => {
    const record = await findTrainRecord(argv.model);
    const spec = argv.data ?? record?.data.spec;
    if (!spec) {
      throw new QnnError('QNN_E_DATA', `no dataset given for ${argv.model} and no ${TRAIN_JSON} beside it`, {
        hint: 'pass --data <spec> (e.g. --data mnist, --data fashion-mnist)',
      });
    }
    const preprocess = argv.preprocess ?? (argv.data === undefined ? record?.settings.preprocess : undefined);
    const dataSeed = argv['data-seed'] ?? (argv.data === undefined ? record?.settings.dataSeed : undefined) ?? 0;
    const batchSize = argv['batch-size'];
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new QnnError('QNN_E_RANGE', `--batch-size must be a positive integer (got ${batchSize})`);
    if (!Number.isInteger(dataSeed) || dataSeed < 0) throw new QnnError('QNN_E_RANGE', `--data-seed must be an integer ≥ 0 (got ${dataSeed})`);

    await getTf();
    const model = await loadModel(argv.model);
    const data = await loadDataset(spec, { seed: dataSeed, preprocess, maxTest: argv['max-test'], quiet: argv.quiet });
    const result = await evaluate(model, data.test, { batchSize, quiet: argv.quiet });
    model.dispose();
    const report = {
      model: argv.model,
      data: spec,
      description: data.description,
      preprocess: data.settings.preprocess,
      dataSeed,
      ...result,
      tfjsBackend: tfRuntimeInfo()?.backend,
    };
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return;
    }
    process.stdout.write(
      `${argv.model} on ${spec} (${result.count} test images, preprocess ${String(report.preprocess)}): ` +
        `top-1 ${percent(result.top1)}, top-5 ${percent(result.top5)} (${result.seconds.toFixed(2)} s)\n`,
    );
  },
};

export default command;
