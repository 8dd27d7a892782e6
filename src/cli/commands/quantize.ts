/**
 * `qnn-native quantize`: quantize a TF.js / Keras model with GPFQ (or MSQ) on calibration data,
 * evaluate it, export it, and write metrics. With no arguments: the bundled MNIST MLP on the
 * bundled MNIST digits at 4 bits.
 */
import type { Argv, CommandModule } from 'yargs';

import { describeDatasetSpecs } from '../../data';
import { QnnError } from '../../errors';
import { parseBitsPerLayer, PRESETS, ZZS_RETRAIN_OPTIONS } from '../../quantize/options';
import { summaryTable } from '../../quantize/report';
import { ExportFormat, runQuantize, RunOptions } from '../../quantize/run';

interface Args {
  json: boolean;
  quiet: boolean;
  model?: string;
  data?: string;
  preprocess?: string;
  method?: string;
  preset?: string;
  bits?: number;
  scalar?: number;
  'dense-bits'?: number;
  'conv-bits'?: number;
  'dense-scalar'?: number;
  'conv-scalar'?: number;
  alphabet?: string;
  percentile?: number;
  samples?: number;
  'batch-size'?: number;
  seed?: number;
  'fresh-per-layer'?: boolean;
  algorithm?: string;
  precision?: string;
  backend?: string;
  threads?: number;
  'dead-input'?: string;
  shortcut?: boolean;
  tie?: string;
  quantizer?: string;
  lambda?: number;
  'bits-per-layer'?: string;
  'bias-correction'?: string;
  'gptq-block-size'?: number;
  'perc-damp'?: number;
  'act-order'?: boolean;
  tensors?: string;
  'inq-increments'?: string;
  'inq-strategy'?: string;
  'inq-epochs'?: number;
  'inq-lr'?: number;
  'inq-batch-size'?: number;
  'train-samples'?: number;
  'retrain-epochs'?: number;
  'retrain-after'?: number;
  'retrain-lr'?: number;
  'retrain-preset'?: string;
  'conv-mode'?: string;
  'retain-rate'?: number;
  'column-order'?: string;
  layers?: string;
  'skip-layers'?: string;
  'keep-last-float'?: boolean;
  'skip-unsupported'?: boolean;
  out?: string;
  force?: boolean;
  format?: string;
  'max-test'?: number;
}

const list = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

const command: CommandModule<object, Args> = {
  command: 'quantize',
  describe: 'Quantize a model (default: the bundled MNIST MLP on the bundled MNIST digits, 4 bits)',
  builder: (y: Argv) =>
    (y
      .option('model', { type: 'string', describe: 'TF.js model dir / model.json, or Keras .h5 (default: bundled models/mnist-mlp)' })
      .option('data', { type: 'string', describe: `Calibration + test data spec (default: the model's train.json, else mnist). ${describeDatasetSpecs()}` })
      .option('preprocess', { type: 'string', choices: ['raw', 'unit', 'imagenet-caffe', 'imagenet-torch', 'imagenet-tf'], describe: 'Input preprocessing (default: as the model was trained)' })
      .option('method', { type: 'string', choices: ['gpfq', 'gptq', 'msq', 'bin', 'fixed-point', 'inq'], describe: 'Quantizer (default gpfq). gpfq and gptq are also compared with MSQ on the same alphabets; bin and fixed-point are data-free, per tensor; inq retrains (powers of two)' })
      .option('preset', { type: 'string', choices: Object.keys(PRESETS), describe: "Paper settings: 'lybrand' (default), 'zzs', 'modern'" })
      .option('bits', { type: 'number', describe: 'Bits per weight, fractional allowed (1.585 = ternary); default 4' })
      .option('scalar', { type: 'number', describe: 'Alphabet scalar C (default: 3 lybrand, 1.16 zzs/modern)' })
      .option('dense-bits', { type: 'number', describe: 'Bits for Dense layers (mixed precision)' })
      .option('conv-bits', { type: 'number', describe: 'Bits for conv layers (mixed precision)' })
      .option('dense-scalar', { type: 'number', describe: 'Scalar for Dense layers' })
      .option('conv-scalar', { type: 'number', describe: 'Scalar for conv layers' })
      .option('alphabet', { type: 'string', choices: ['lybrand', 'zzs-linspace', 'zzs-uniform'], describe: 'Alphabet and radius rule (default: from the preset)' })
      .option('percentile', { type: 'number', describe: 'p of the ZZS radius (default 1)' })
      .option('samples', { type: 'number', describe: 'Calibration images per layer (default: up to 10000 for dense-only networks, 2048 with conv layers)' })
      .option('batch-size', { type: 'number', describe: 'Images per capture step (default 256)' })
      .option('seed', { type: 'number', describe: 'Seed for every random choice (default 0)' })
      .option('fresh-per-layer', { type: 'boolean', describe: 'A fresh calibration subset per layer (ZZS)' })
      .option('algorithm', { type: 'string', choices: ['auto', 'direct', 'gram'], describe: 'GPFQ form (auto: direct for small dense layers, streaming Gram otherwise)' })
      .option('precision', { type: 'string', choices: ['float32', 'float64'], describe: 'Working precision (default float32)' })
      .option('backend', { type: 'string', choices: ['auto', 'native', 'cuda', 'js'], describe: 'Engine backend (default auto)' })
      .option('threads', { type: 'number', describe: 'CPU threads (default: all cores)' })
      .option('dead-input', { type: 'string', choices: ['q0', 'zero'], describe: 'Dead inputs: Q(0) or a literal 0 (default: from the preset)' })
      .option('shortcut', { type: 'boolean', describe: 'The |<X~_t,u>| < 1e-10 rule of the seed code (default: from the preset)' })
      .option('tie', { type: 'string', choices: ['lower', 'upper'], describe: 'Nearest-level ties' })
      .option('quantizer', { type: 'string', choices: ['nearest', 'stochastic', 'l1', 'l0'], describe: 'Scalar quantizer: nearest (default), stochastic rounding (SGPFQ), L1 / L0 sparsity-promoting' })
      .option('lambda', { type: 'number', describe: 'Threshold λ of the l1 / l0 quantizers' })
      .option('bits-per-layer', { type: 'string', describe: 'Per-layer bits (and scalar): name=bits[:scalar],... or JSON {"name": bits}' })
      .option('bias-correction', { type: 'string', choices: ['none', 'last', 'all'], describe: "Correct biases for the quantization's mean output shift (ZZS); 'last' with --keep-last-float corrects the float last layer" })
      .option('gptq-block-size', { type: 'number', describe: 'GPTQ lazy block size (default 128)' })
      .option('perc-damp', { type: 'number', describe: 'GPTQ dampening, fraction of mean diag(H) (default 0.01)' })
      .option('act-order', { type: 'boolean', describe: 'GPTQ: visit inputs by decreasing diag(H)' })
      .option('tensors', { type: 'string', choices: ['kernels', 'all'], describe: 'bin / fixed-point: only kernels (default) or every trainable tensor' })
      .option('inq-increments', { type: 'string', describe: 'INQ accumulated portions, increasing, ending at 1 (default 0.5,0.75,0.875,1)' })
      .option('inq-strategy', { type: 'string', choices: ['pruning', 'random'], describe: 'INQ partition (default pruning: largest first)' })
      .option('inq-epochs', { type: 'number', describe: 'INQ retraining epochs per portion (default 2; 0 = one-shot INQ, no retraining)' })
      .option('inq-lr', { type: 'number', describe: 'INQ SGD learning rate (default 0.001, momentum 0.9, weight decay 5e-4)' })
      .option('inq-batch-size', { type: 'number', describe: 'INQ batch size (default 128)' })
      .option('train-samples', { type: 'number', describe: 'Training images for INQ / retraining (default: the whole train split)' })
      .option('retrain-epochs', { type: 'number', describe: 'Fine-tune the still-float layers for N epochs after each quantized layer (default 0)' })
      .option('retrain-after', { type: 'number', describe: 'Retrain only once at least this many layers are quantized (default 0)' })
      .option('retrain-lr', { type: 'number', describe: 'Retraining learning rate (Adam; default 1e-4)' })
      .option('retrain-preset', { type: 'string', choices: ['zzs'], describe: 'ZZS schedule: 1 epoch of Adam 1e-4 once more than 10 layers are quantized' })
      .option('conv-mode', { type: 'string', choices: ['filter', 'channel', 'zzs'], describe: 'Conv2D: whole filter, Lybrand channel-parallel, or ZZS (stride = kernel)' })
      .option('retain-rate', { type: 'number', describe: "ZZS patch retain rate (conv-mode 'zzs')" })
      .option('column-order', { type: 'string', choices: ['hwc', 'chw'], describe: 'Order in which a filter’s inputs are visited' })
      .option('layers', { type: 'string', describe: 'Only these layers (comma-separated names)' })
      .option('skip-layers', { type: 'string', describe: 'Keep these layers in float (comma-separated names)' })
      .option('keep-last-float', { type: 'boolean', describe: 'Keep the last quantizable layer in float' })
      .option('skip-unsupported', { type: 'boolean', describe: 'Keep layers that cannot be quantized (Conv1D, LSTM, ...) in float instead of failing' })
      .option('out', { type: 'string', describe: 'Output directory (default ./qnn-out)' })
      .option('force', { type: 'boolean', describe: 'Replace an existing --out' })
      .option('format', { type: 'string', describe: 'Exports, comma-separated: tfjs, packed, inq (default tfjs,packed; INQ: tfjs,inq)' })
      .option('max-test', { type: 'number', describe: 'Evaluate on at most this many test samples' })
      .example('$0 quantize', 'bundled MNIST MLP, 4 bits, Lybrand preset')
      .example('$0 quantize --bits 1.585 --scalar 3 --out ternary', 'ternary GPFQ as in Lybrand & Saab')
      .example('$0 quantize --model models/fashion-cnn --data fashion-mnist --bits 4 --preset modern', 'a CNN, whole-filter convs, uniform grid')) as unknown as Argv<Args>,
  handler: async (argv) => {
    const formats = list(argv.format);
    if (formats && !formats.every((f) => f === 'tfjs' || f === 'packed' || f === 'inq')) {
      throw new QnnError('QNN_E_RANGE', `--format takes tfjs, packed and/or inq (got '${argv.format}')`);
    }
    const opts: RunOptions = {
      model: argv.model,
      data: argv.data,
      preprocess: argv.preprocess as RunOptions['preprocess'],
      method: argv.method as RunOptions['method'],
      preset: argv.preset as RunOptions['preset'],
      bits: argv.bits,
      scalar: argv.scalar,
      denseBits: argv['dense-bits'],
      convBits: argv['conv-bits'],
      denseScalar: argv['dense-scalar'],
      convScalar: argv['conv-scalar'],
      alphabet: argv.alphabet as RunOptions['alphabet'],
      percentile: argv.percentile,
      samples: argv.samples,
      batchSize: argv['batch-size'],
      seed: argv.seed,
      freshPerLayer: argv['fresh-per-layer'],
      algorithm: argv.algorithm as RunOptions['algorithm'],
      precision: argv.precision as RunOptions['precision'],
      backend: argv.backend as RunOptions['backend'],
      threads: argv.threads,
      deadInput: argv['dead-input'] as RunOptions['deadInput'],
      shortcut: argv.shortcut,
      tie: argv.tie as RunOptions['tie'],
      quantizer: argv.quantizer as RunOptions['quantizer'],
      lambda: argv.lambda,
      bitsPerLayer: argv['bits-per-layer'] === undefined ? undefined : parseBitsPerLayer(argv['bits-per-layer']),
      biasCorrection: argv['bias-correction'] as RunOptions['biasCorrection'],
      gptqBlockSize: argv['gptq-block-size'],
      percDamp: argv['perc-damp'],
      actOrder: argv['act-order'],
      tensors: argv.tensors as RunOptions['tensors'],
      inqIncrements: argv['inq-increments'] === undefined ? undefined : argv['inq-increments'].split(',').map(Number),
      inqStrategy: argv['inq-strategy'] as RunOptions['inqStrategy'],
      inqEpochs: argv['inq-epochs'],
      inqLearningRate: argv['inq-lr'],
      inqBatchSize: argv['inq-batch-size'],
      trainSamples: argv['train-samples'],
      ...(argv['retrain-preset'] === 'zzs' ? ZZS_RETRAIN_OPTIONS : {}),
      ...(argv['retrain-epochs'] === undefined ? {} : { retrainEpochs: argv['retrain-epochs'] }),
      ...(argv['retrain-after'] === undefined ? {} : { retrainAfter: argv['retrain-after'] }),
      ...(argv['retrain-lr'] === undefined ? {} : { retrainLearningRate: argv['retrain-lr'] }),
      convMode: argv['conv-mode'] as RunOptions['convMode'],
      retainRate: argv['retain-rate'],
      columnOrder: argv['column-order'] as RunOptions['columnOrder'],
      layers: list(argv.layers),
      skipLayers: list(argv['skip-layers']),
      keepLastFloat: argv['keep-last-float'],
      skipUnsupported: argv['skip-unsupported'],
      out: argv.out,
      force: argv.force,
      formats: formats as ExportFormat[] | undefined,
      maxTest: argv['max-test'],
      quiet: argv.quiet || argv.json,
      command: `qnn-native ${process.argv.slice(2).join(' ')}`,
    };
    let interrupted = 0;
    const onSigint = () => {
      interrupted++;
      if (interrupted > 1) process.exit(130);
      process.stderr.write('\ninterrupted: stopping at the next safe point (Ctrl-C again to quit at once)\n');
    };
    process.on('SIGINT', onSigint);
    try {
      const metrics = await runQuantize(opts, {
        checkAbort: () => {
          if (interrupted) throw new QnnError('QNN_E_ABORTED', 'interrupted (Ctrl-C); nothing was written');
        },
      });
      if (argv.json) process.stdout.write(`${JSON.stringify(metrics, null, 2)}\n`);
      else process.stdout.write(`${summaryTable(metrics)}\n`);
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};

export default command;
