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

export { convGeometry, convLayout, groupWeights, im2col, quantizeConv } from './engine/conv';
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
