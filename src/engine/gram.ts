/**
 * Streaming Gram accumulation: batches of (X, Xq) go into G = Xq^T X, H = Xq^T Xq and
 * K = X^T X (for the analog output norms) without keeping the batches. For conv layers the
 * patches of each batch are built and consumed in bounded chunks (never the whole layer).
 */
import { QnnError, toQnnError } from '../errors';
import type { CudaGramHandle, GramArray, NativeConvSpec } from '../native/types';
import { gramAccumulateConvRef, gramAccumulateRef } from '../reference/gram';
import { ConvSpec } from '../reference/im2col';
import { BackendChoice, BackendName, binding, resolveBackend } from './backend';
import { ConvPatchOptions, toConvSpecs } from './conv_spec';
import { checkF32, checkFinite, checkInt, checkOneOf, checkOptions } from './validate';

export interface GramAccumulatorOptions {
  /** Columns per group (N0 of the layer, or kh·kw·Cin/groups for conv patches). */
  d: number;
  /** Independent column groups (conv groups, or Cin for depthwise / channel-parallel). Default 1. */
  groups?: number;
  /** Storage and accumulation type: 'float32' (default, fastest) or 'float64'. */
  precision?: 'float32' | 'float64';
  /** X~ = X (first layer): only H is accumulated and serves as G and K. Default false. */
  same?: boolean;
  /** Accumulate K = X^T X so GPFQ can report relative errors. Default true. */
  trackAnalog?: boolean;
  backend?: BackendChoice;
  threads?: number;
}

/** The matrices of one group, ready for gpfq({gram}). H and K are symmetric (mirrored). */
export interface GramMatrices {
  d: number;
  same: boolean;
  rows: number;
  g?: GramArray;
  h: GramArray;
  k?: GramArray;
  /** Column means of X and X~ (for bias correction); undefined on the CUDA backend. */
  meanX?: Float64Array;
  meanXq?: Float64Array;
}

export class GramAccumulator {
  readonly d: number;
  readonly groups: number;
  readonly precision: 'float32' | 'float64';
  readonly same: boolean;
  readonly trackAnalog: boolean;
  readonly backend: BackendName;
  readonly threads: number;
  /** Samples (dense) or patch rows (conv) accumulated so far. */
  rows = 0;
  private readonly g?: GramArray;
  private readonly h: GramArray;
  private readonly k?: GramArray;
  /** Column sums of X and X~ (groups x d); X~'s is X's in the same-inputs mode. */
  private readonly sx: Float64Array;
  private readonly sxq: Float64Array;
  private cuda?: CudaGramHandle;
  private queue: Promise<void> = Promise.resolve();
  private hostValid = true;

  constructor(opts: GramAccumulatorOptions) {
    const o = checkOptions(opts, 'GramAccumulator options');
    this.d = checkInt('d', o.d, 1, 1 << 20);
    this.groups = o.groups === undefined ? 1 : checkInt('groups', o.groups, 1, 1 << 24);
    this.precision = checkOneOf('precision', o.precision, ['float32', 'float64'] as const, 'float32');
    this.same = Boolean(o.same);
    this.trackAnalog = o.trackAnalog === undefined ? true : Boolean(o.trackAnalog);
    this.threads = o.threads === undefined ? 0 : checkInt('threads', o.threads, 0, 256);
    this.backend = resolveBackend(o.backend as BackendChoice | undefined);
    const n = this.groups * this.d * this.d;
    const Ctor = this.precision === 'float64' ? Float64Array : Float32Array;
    try {
      this.h = new Ctor(n);
      if (!this.same) {
        this.g = new Ctor(n);
        if (this.trackAnalog) this.k = new Ctor(n);
      }
    } catch (e) {
      throw new QnnError('QNN_E_MEMORY', `cannot allocate Gram matrices of ${this.groups} x ${this.d}^2 ${this.precision}`, { cause: e });
    }
    this.sx = new Float64Array(this.groups * this.d);
    this.sxq = this.same ? this.sx : new Float64Array(this.groups * this.d);
    if (this.backend === 'cuda') {
      try {
        this.cuda = binding().cudaGramCreate({ d: this.d, groups: this.groups, precision: this.precision, same: this.same, trackK: this.trackAnalog });
      } catch (e) {
        throw toQnnError(e);
      }
    }
  }

  /** Dense batch: x (and xq unless same) hold rows x d values, row-major. */
  async add(x: Float32Array, xq?: Float32Array): Promise<void> {
    if (this.groups !== 1) throw new QnnError('QNN_E_SHAPE', 'add() is for dense layers (groups = 1); use addConv() for conv patches');
    const xv = checkF32('x', x);
    if (xv.length % this.d !== 0) throw new QnnError('QNN_E_SHAPE', `\`x\` has ${xv.length} values, not a multiple of d = ${this.d}`);
    const rows = xv.length / this.d;
    const xqv = this.checkXq(xq, xv.length);
    this.checkValues(xv, xqv);
    return this.enqueue(rows, async () => {
      const sxq = this.same ? undefined : this.sxq;
      if (this.backend === 'js') gramAccumulateRef(this.g, this.h, this.k, this.d, xv, xqv, rows, this.sx, sxq);
      else if (this.backend === 'cuda') await binding().cudaGramAdd({ handle: this.cuda!, x: xv, xq: xqv, rows });
      else await binding().gramAccumulate({ g: this.g, h: this.h, k: this.k, d: this.d, rows, x: xv, xq: xqv, sx: this.sx, sxq, threads: this.threads });
    });
  }

  /** Conv batch (NHWC): patches are built per the options and accumulated per group. */
  async addConv(x: Float32Array, xq: Float32Array | undefined, patch: ConvPatchOptions): Promise<void> {
    const { ref, native: nspec, geometry } = toConvSpecs(patch);
    if (geometry.colsPerGroup !== this.d || ref.groups !== this.groups) {
      throw new QnnError(
        'QNN_E_SHAPE',
        `conv patches have ${ref.groups} group(s) of ${geometry.colsPerGroup} columns but this accumulator holds ${this.groups} of ${this.d}`,
      );
    }
    const xv = checkF32('x', x, ref.n * ref.h * ref.w * ref.c);
    const xqv = this.checkXq(xq, xv.length);
    this.checkValues(xv, xqv);
    return this.enqueue(geometry.rowsPerImage * ref.n, async () => {
      const sxq = this.same ? undefined : this.sxq;
      if (this.backend === 'js') gramAccumulateConvRef(this.g, this.h, this.k, ref as ConvSpec, xv, xqv, this.sx, sxq);
      else if (this.backend === 'cuda') await binding().cudaGramAdd({ handle: this.cuda!, x: xv, xq: xqv, spec: nspec as NativeConvSpec });
      else await binding().gramAccumulateConv({ g: this.g, h: this.h, k: this.k, spec: nspec, x: xv, xq: xqv, sx: this.sx, sxq, threads: this.threads });
    });
  }

  /** NaN / Infinity check on the JS backend; the native and CUDA bindings check in their worker thread. */
  private checkValues(x: Float32Array, xq: Float32Array | undefined): void {
    if (this.backend !== 'js') return;
    checkFinite('x', x);
    if (xq) checkFinite('xq', xq);
  }

  /** Waits for queued batches; then the matrices of `group` (symmetrised). */
  async matrices(group = 0): Promise<GramMatrices> {
    checkInt('group', group, 0, this.groups - 1);
    await this.queue;
    if (this.rows === 0) throw new QnnError('QNN_E_EMPTY', 'the Gram accumulator has no data yet: add() at least one batch');
    if (this.backend === 'cuda' && !this.hostValid) {
      try {
        await binding().cudaGramDownload({ handle: this.cuda!, g: this.g, h: this.h, k: this.k });
      } catch (e) {
        throw toQnnError(e);
      }
      this.hostValid = true;
    }
    const d = this.d;
    const off = group * d * d;
    const view = (a: GramArray | undefined) => (a ? (a.subarray(off, off + d * d) as GramArray) : undefined);
    const h = view(this.h)!;
    const k = view(this.k);
    mirrorLower(h, d);
    if (k) mirrorLower(k, d);
    const mean = (s: Float64Array) => s.slice(group * d, (group + 1) * d).map((v) => v / this.rows);
    const means = this.backend === 'cuda' ? {} : { meanX: mean(this.sx), meanXq: mean(this.sxq) };
    return { d, same: this.same, rows: this.rows, g: view(this.g), h, k, ...means };
  }

  /** Frees device memory (CUDA backend); the host copies stay readable. */
  dispose(): void {
    if (this.cuda) {
      binding().cudaGramFree(this.cuda);
      this.cuda = undefined;
    }
  }

  private checkXq(xq: Float32Array | undefined, n: number): Float32Array | undefined {
    if (this.same) {
      if (xq !== undefined) throw new QnnError('QNN_E_VALUE', 'this accumulator was created with same: true (X~ = X); do not pass xq');
      return undefined;
    }
    if (xq === undefined) throw new QnnError('QNN_E_VALUE', 'this accumulator needs xq (inputs of the partially quantized network); create it with same: true when X~ = X');
    return checkF32('xq', xq, n);
  }

  private enqueue(rows: number, work: () => Promise<void>): Promise<void> {
    if (this.backend === 'cuda' && !this.cuda) throw new QnnError('QNN_E_VALUE', 'this accumulator was disposed');
    const run = this.queue.then(async () => {
      try {
        await work();
      } catch (e) {
        throw toQnnError(e);
      }
      this.rows += rows;
      if (this.backend === 'cuda') this.hostValid = false;
    });
    // Keep the chain alive after a failure; the caller still sees the rejection.
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Copies the lower triangle of a symmetric d x d matrix onto its upper triangle. */
export function mirrorLower(a: GramArray, d: number): void {
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) a[i * d + j] = a[j * d + i];
}
