/**
 * qnn-native: post-training quantization of neural networks (GPFQ and baselines) for TF.js,
 * with a C++ engine (optional CUDA) and a pure-TypeScript reference backend.
 */
export { QnnError, toQnnError } from './errors';
export type { QnnErrorCode } from './errors';

export { backends, buildInfo, hasCuda } from './engine/backend';
export type { BackendChoice, BackendInfo, BackendName, BuildInfo } from './engine/backend';

export { alphabet, alphabetGrid, l0Alphabet, msq } from './engine/alphabet';
export type { AlphabetGrid, AlphabetKind, AlphabetOptions, MsqOptions } from './engine/alphabet';

export type { QuantizerName, QuantizerOptions } from './engine/quantizer';

export { gpfq } from './engine/gpfq';
export type { GpfqOptions, GpfqResult } from './engine/gpfq';

export { GramAccumulator } from './engine/gram';
export type { GramAccumulatorOptions, GramMatrices } from './engine/gram';

export { convGeometry, convLayout, convOutputMeans, groupWeights, im2col, quantizeConv } from './engine/conv';
export type {
  ConvLayerKind,
  ConvLayerSpec,
  ConvLayout,
  ConvPatchOptions,
  Im2colOptions,
  Im2colResult,
  PatchMode,
  QuantizeConvOptions,
  QuantizeConvResult,
} from './engine/conv';

export { Rng32, mixSeed, permutation } from './util/rng';

export { gptq } from './methods/gptq';
export type { GptqOptions, GptqResult } from './methods/gptq';

export { binQuantize, errorSummary, fixedPointQuantize } from './methods/binfixed';
export type { BinQuantized, ErrorSummary, FixedPointQuantized } from './methods/binfixed';

export { decodeInq, encodeInq, inqExponents, inqGrid, inqPartition, inqQuantize, inqSchedule } from './methods/inq';
export type { InqEncoded, InqExponents, InqPrevious, InqStrategy } from './methods/inq';

export { exactGrid } from './methods/grid';
export type { ValueGrid } from './methods/grid';

// Network-level API: the pipeline behind `qnn-native quantize`.
export { runQuantize, bundledModelDir } from './quantize/run';
export type { RunOptions, RunMetrics, ExportFormat } from './quantize/run';
export { quantizeNetwork } from './quantize/pipeline';
export type { LayerRecord, QuantizedNetwork, TensorRecord } from './quantize/pipeline';
export { resolveOptions, parseBitsPerLayer, PRESETS, ZZS_RETRAIN_OPTIONS } from './quantize/options';
export type { Method, Preset, QuantizeOptions } from './quantize/options';

// INQ retraining and fine-tuning (the quantizer rules are exported above).
export { quantizeInq } from './methods/inq_train';
export type { InqOptions, InqResult } from './methods/inq_train';
export { fineTune, ZZS_RETRAIN } from './methods/finetune';

// Data, models, exports, training and evaluation.
export { loadDataset, describeDatasetSpecs } from './data';
export type { Dataset, DataSplits, LoadOptions, Preprocess } from './data';
export { loadModel, saveModel, fileIO } from './io/model_io';
export { loadKerasH5, saveKerasH5 } from './io/h5';
export { exportQuantizedTfjs, roundTripCheck } from './io/export';
export type { QuantizedTensor, GridSpec, ExportedTensor } from './io/export';
export { exportPacked, loadPacked } from './io/packed';
export { exportInq, loadInq } from './io/inq';
export { dirSize } from './io/sizes';
export { evaluate, predict, topK } from './eval/evaluate';
export { trainModel } from './train/train';
export { buildModel } from './train/recipes';
export { getTf, tfRuntimeInfo } from './tf/runtime';
