/**
 * The exact shape of the native module (native/binding/addon.cc). Only src/native/load.ts
 * requires the .node file; everything else talks to this interface.
 */

/** Quantizer kinds: 0 nearest, 1 stochastic (SGPFQ), 2 L1 soft-threshold, 3 L0 (ZZS). */
export interface NativeQuantSpec {
  kind?: 0 | 1 | 2 | 3;
  tieUpper?: boolean;
  lambda?: number;
  delta?: number;
  kMax?: number;
  seed?: number;
}

export interface NativeGpfqCommon {
  weights: Float32Array;
  n0: number;
  n1: number;
  levels: Float32Array;
  /** 0: dead input -> Q(0); 1: literal 0 (code -1). */
  dead?: 0 | 1;
  shortcut?: boolean;
  block?: number;
  threads?: number;
  quant?: NativeQuantSpec;
  backend?: 'cpu' | 'cuda';
}

export interface NativeGpfqResult {
  codes: Int32Array;
  q: Float32Array;
  error: Float64Array;
  relError: Float64Array;
}

export interface NativeConvSpec {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  sh?: number;
  sw?: number;
  dh?: number;
  dw?: number;
  padding?: 'same' | 'valid';
  groups?: number;
  mode?: 'stride' | 'zzs';
  order?: 'hwc' | 'chw';
  retain?: number;
  seed?: number;
  imageOffset?: number;
}

export interface NativeConvGeometry {
  oh: number;
  ow: number;
  padTop: number;
  padLeft: number;
  rowsPerImage: number;
  cols: number;
  colsPerGroup: number;
}

export type GramArray = Float32Array | Float64Array;

export interface NativeBuildInfo {
  version: string;
  napiVersion: number;
  buildSystem: string;
  buildType: string;
  openmp: boolean;
  cudaCompiled: boolean;
  cpuKernel: string;
  cpuHasAvx2Fma: boolean;
  defaultThreads: number;
  sanitize: string;
  compiler: string;
}

export interface NativeBackendEntry {
  name: 'cpu' | 'cuda';
  compiled: boolean;
  available: boolean;
  devices: number;
  reason: string;
  threads?: number;
  kernel?: string;
  deviceName?: string;
  totalMemory?: number;
  freeMemory?: number;
  computeCapability?: string;
  runtimeVersion?: number;
  driverVersion?: number;
}

export interface NativeAlphabetGrid {
  levels: Float32Array;
  codes: Int32Array;
  step: number;
  min: number;
  radius: number;
}

/** Opaque device-resident Gram accumulator handle. */
export type CudaGramHandle = object;

export interface NativeBinding {
  buildInfo(): NativeBuildInfo;
  backends(): NativeBackendEntry[];
  alphabet(o: { kind: 0 | 1 | 2; bits: number; scalar?: number; percentile?: number; weights: Float32Array; n0: number; n1: number }): NativeAlphabetGrid;
  l0Alphabet(o: { delta: number; lambda: number; kMax: number }): Float32Array;
  msq(o: { weights: Float32Array; levels: Float32Array; n1?: number; quant?: NativeQuantSpec }): { codes: Int32Array; q: Float32Array };
  gpfqDirect(o: NativeGpfqCommon & { x: Float32Array; xq?: Float32Array; m: number; precision?: 'float32' | 'float64' }): Promise<NativeGpfqResult>;
  gpfqGram(o: NativeGpfqCommon & { g?: GramArray; h: GramArray; k?: GramArray; same?: boolean }): Promise<NativeGpfqResult>;
  /** sx / sxq: optional column-sum accumulators (d, or groups·d, doubles). */
  gramAccumulate(o: { g?: GramArray; h: GramArray; k?: GramArray; d: number; rows: number; x: Float32Array; xq?: Float32Array; sx?: Float64Array; sxq?: Float64Array; threads?: number }): Promise<void>;
  gramAccumulateConv(o: { g?: GramArray; h: GramArray; k?: GramArray; spec: NativeConvSpec; x: Float32Array; xq?: Float32Array; sx?: Float64Array; sxq?: Float64Array; threads?: number }): Promise<void>;
  convGeometry(spec: NativeConvSpec): NativeConvGeometry;
  im2col(o: { x: Float32Array; spec: NativeConvSpec; row0?: number; rows?: number; threads?: number; backend?: 'cpu' | 'cuda' }): Promise<{ patches: Float32Array; rows: number; cols: number }>;
  cudaGramCreate(o: { d: number; groups?: number; precision?: 'float32' | 'float64'; same?: boolean; trackK?: boolean }): CudaGramHandle;
  cudaGramAdd(o: { handle: CudaGramHandle; x: Float32Array; xq?: Float32Array; rows?: number; spec?: NativeConvSpec }): Promise<void>;
  cudaGramDownload(o: { handle: CudaGramHandle; g?: GramArray; h: GramArray; k?: GramArray }): Promise<void>;
  cudaGramFree(handle: CudaGramHandle): void;
  cudaEstimate(o: Record<string, unknown> & { what: 'gram' | 'gpfqDirect' | 'gpfqGram' }): number;
  gptq(o: {
    weights: Float32Array; n0: number; n1: number; levels: Float32Array; h: GramArray; g?: GramArray; k?: GramArray; same?: boolean;
    block?: number; percDamp?: number; actOrder?: boolean; threads?: number; quant?: NativeQuantSpec;
  }): Promise<NativeGpfqResult>;
}
