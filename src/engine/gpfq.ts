/**
 * GPFQ for one layer (ALGORITHMS.md 2, FIELD.md 2.2–2.3), on any backend:
 * - 'direct': from the inputs X (analog network) and Xq (partially quantized network);
 * - 'gram': from G = Xq^T X and H = Xq^T Xq only (a GramAccumulator, or built here from x/xq).
 * Both visit the inputs in order and give the same codes in float64.
 */
import { QnnError, toQnnError } from '../errors';
import type { GramArray } from '../native/types';
import { gpfqDirectRef, gpfqGramRef } from '../reference/gpfq';
import { BackendChoice, BackendName, binding, resolveBackend } from './backend';
import { GramAccumulator, GramMatrices } from './gram';
import { QuantizerOptions, quantSpec, toNativeQuant } from './quantizer';
import { checkAlphabet, checkF32, checkFinite, checkGram, checkInt, checkOneOf, checkOptions, typedKind } from './validate';

export interface GpfqOptions extends QuantizerOptions {
  /** Layer weights, n0 x n1 row-major (Keras layout; column j = neuron j). */
  weights: Float32Array;
  n0: number;
  n1: number;
  /** Inputs of the layer in the analog network, m x n0 row-major. */
  x?: Float32Array;
  /** Inputs of the layer in the partially quantized network (default: x, i.e. X~ = X). */
  xq?: Float32Array;
  /** Number of samples (default x.length / n0). */
  m?: number;
  /** Precomputed Gram matrices (implies algorithm 'gram'). */
  gram?: GramAccumulator | GramMatrices;
  /** Ascending levels (from alphabet()). */
  alphabet: Float32Array;
  /** Default: 'gram' when `gram` is given, else 'direct'. */
  algorithm?: 'direct' | 'gram';
  /** Working precision: 'float32' (default) or 'float64' (bit-reproducible reference). With `gram`
   * the matrices' element type decides. */
  precision?: 'float32' | 'float64';
  /** 'auto' (default): CUDA if a device is usable, else the native CPU addon, else TypeScript. */
  backend?: BackendChoice;
  /** CPU threads (default: all cores). */
  threads?: number;
  /** Dead input (||X~_t|| < 1e-16): 'q0' → Q(0) (default, ZZS) or 'zero' → literal 0, code -1 (Lybrand). */
  deadInput?: 'q0' | 'zero';
  /** Variant E of the seed code: |<X~_t, u>| < 1e-10 → q_t = Q(w_t) (on for reproducing the papers' logs). */
  shortcut?: boolean;
  /** Columns per block in the native blocked sweep (default 128). */
  block?: number;
}

export interface GpfqResult {
  /** Index into the alphabet per weight (n0 x n1), -1 for a literal zero (deadInput 'zero'). */
  codes: Int32Array;
  /** Quantized weights (n0 x n1). */
  q: Float32Array;
  /** Per neuron ||X w_j − X~ q_j||. */
  error: Float64Array;
  /** Per neuron error / ||X w_j|| (NaN when K = X^T X was not tracked). */
  relError: Float64Array;
  backend: BackendName;
  algorithm: 'direct' | 'gram';
  precision: 'float32' | 'float64';
  seconds: number;
}

function isAccumulator(g: unknown): g is GramAccumulator {
  return g instanceof GramAccumulator;
}

export async function gpfq(opts: GpfqOptions): Promise<GpfqResult> {
  const o = checkOptions(opts, 'gpfq options');
  const n0 = checkInt('n0', o.n0, 1);
  const n1 = checkInt('n1', o.n1, 1);
  const w = checkF32('weights', o.weights, n0 * n1);
  const levels = checkAlphabet(o.alphabet);
  const spec = quantSpec(opts, levels);
  const dead = checkOneOf('deadInput', o.deadInput, ['q0', 'zero'] as const, 'q0');
  const shortcut = Boolean(o.shortcut);
  const block = o.block === undefined ? 128 : checkInt('block', o.block, 1, 65536);
  const threads = o.threads === undefined ? 0 : checkInt('threads', o.threads, 0, 256);
  const algorithm = checkOneOf('algorithm', o.algorithm, ['direct', 'gram'] as const, o.gram ? 'gram' : 'direct');
  let precision = checkOneOf('precision', o.precision, ['float32', 'float64'] as const, 'float32');
  checkFinite('weights', w);

  let mats: GramMatrices | undefined;
  let x: Float32Array | undefined;
  let xq: Float32Array | undefined;
  let m = 0;
  if (o.gram !== undefined) {
    if (algorithm !== 'gram') throw new QnnError('QNN_E_VALUE', "`gram` was given: use algorithm 'gram' (or omit it)");
    if (o.x !== undefined) throw new QnnError('QNN_E_VALUE', 'pass either `gram` or `x`, not both');
    mats = isAccumulator(o.gram) ? await o.gram.matrices() : checkMatrices(o.gram as GramMatrices);
    if (mats.d !== n0) throw new QnnError('QNN_E_SHAPE', `the Gram matrices are ${mats.d} x ${mats.d} but the weights have n0 = ${n0} rows`);
    precision = typedKind(mats.h) === 'Float64Array' ? 'float64' : 'float32';
  } else {
    if (o.x === undefined) throw new QnnError('QNN_E_TYPE', '`x` (the layer inputs, m x n0) or `gram` is required');
    x = checkF32('x', o.x);
    m = o.m === undefined ? x.length / n0 : checkInt('m', o.m, 1);
    if (!Number.isInteger(m) || m < 1) throw new QnnError('QNN_E_SHAPE', `\`x\` has ${x.length} values, not a positive multiple of n0 = ${n0}`);
    checkF32('x', x, m * n0);
    if (o.xq !== undefined) xq = checkF32('xq', o.xq, m * n0);
  }

  const backend = resolveBackend(o.backend as BackendChoice | undefined);
  // The native and CUDA bindings check x and xq for NaN / Infinity themselves, off the main thread.
  if (backend === 'js' && x) {
    checkFinite('x', x);
    if (xq) checkFinite('xq', xq);
  }
  const start = process.hrtime.bigint();
  if (algorithm === 'gram' && !mats) {
    const acc = new GramAccumulator({ d: n0, precision, same: !xq, backend, threads });
    try {
      await acc.add(x!, xq);
      mats = await acc.matrices();
    } finally {
      acc.dispose();
    }
  }
  let r: { codes: Int32Array; q: Float32Array; error: Float64Array; relError: Float64Array };
  try {
    if (backend === 'js') {
      const ro = { dead, shortcut, quant: spec, f32: precision === 'float32' };
      r = mats
        ? gpfqGramRef(w, n0, n1, mats.g, mats.h, mats.k, mats.same, levels, ro)
        : gpfqDirectRef(w, n0, n1, x!, xq, m, levels, ro);
    } else {
      const common = {
        weights: w, n0, n1, levels, dead: (dead === 'zero' ? 1 : 0) as 0 | 1, shortcut, block, threads,
        quant: toNativeQuant(spec), backend: backend === 'cuda' ? ('cuda' as const) : ('cpu' as const),
      };
      r = mats
        ? await binding().gpfqGram({ ...common, g: mats.g, h: mats.h, k: mats.k, same: mats.same })
        : await binding().gpfqDirect({ ...common, x: x!, xq, m, precision });
    }
  } catch (e) {
    throw toQnnError(e);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { ...r, backend, algorithm, precision, seconds };
}

function checkMatrices(g: GramMatrices): GramMatrices {
  const o = checkOptions(g, '`gram`');
  const d = checkInt('gram.d', o.d, 1);
  const h = checkGram('gram.h', o.h, d * d);
  const same = Boolean(o.same);
  const gg = same ? undefined : checkGram('gram.g', o.g, d * d);
  const k = o.k === undefined ? undefined : checkGram('gram.k', o.k, d * d);
  for (const [name, a] of [['gram.g', gg], ['gram.k', k]] as const) {
    if (a && typedKind(a) !== typedKind(h)) throw new QnnError('QNN_E_TYPE', `\`${name}\` must have the same element type as gram.h`);
  }
  for (const [name, a] of [['gram.h', h], ['gram.g', gg], ['gram.k', k]] as const) if (a) checkFinite(name, a as GramArray);
  return { d, same, rows: Number(o.rows ?? 0), g: gg, h, k };
}
