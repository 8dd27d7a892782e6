/**
 * GPTQ for one layer (FIELD.md 2.1), on the same inputs as {@link gpfq}: a streamed H = X~ᵀX~
 * (a GramAccumulator or GramMatrices, or built here from x / xq). GPTQ itself needs only H;
 * G = X~ᵀX and K = XᵀX give the per-neuron errors ||Xw_j − X~q_j|| exactly as gpfq reports them.
 */
import { QnnError, toQnnError } from '../errors';
import type { GramArray } from '../native/types';
import { gptqRef } from '../reference/gptq';
import { binding, resolveBackend } from '../engine/backend';
import { GramAccumulator, GramMatrices } from '../engine/gram';
import { QuantizerOptions, quantSpec, toNativeQuant } from '../engine/quantizer';
import {
  checkAlphabet, checkF32, checkFinite, checkGram, checkInt, checkNumber, checkOneOf, checkOptions, typedKind,
} from '../engine/validate';

export interface GptqOptions extends QuantizerOptions {
  /** Layer weights, n0 x n1 row-major (Keras layout; row t = input t, column j = neuron j). */
  weights: Float32Array;
  n0: number;
  n1: number;
  /** Ascending levels (from alphabet()); GPTQ rounds with the same quantizer and tie rule as GPFQ. */
  alphabet: Float32Array;
  /** Precomputed Gram matrices of the layer inputs (d = n0). */
  gram?: GramAccumulator | GramMatrices;
  /** Inputs of the layer in the analog network, m x n0 row-major (instead of `gram`). */
  x?: Float32Array;
  /** Inputs in the partially quantized network (default: x, i.e. X~ = X). */
  xq?: Float32Array;
  /** Number of samples (default x.length / n0). */
  m?: number;
  /** Precision of the accumulator built from `x` (default 'float32'); with `gram` the element
   * type of H decides. The 'js' backend always computes in float64. */
  precision?: 'float32' | 'float64';
  /** Rows per lazy block (default 128). The codes do not depend on it beyond rounding. */
  blockSize?: number;
  /** Damping λ = percDamp · mean(diag H) added to the diagonal (default 0.01, must be ≥ 0). */
  percDamp?: number;
  /** Visit the inputs by decreasing diag(H) (ties keep index order); results stay in the original order. */
  actOrder?: boolean;
  /** 'auto' (default): the native CPU addon when loaded, else TypeScript. GPTQ has no CUDA path. */
  backend?: 'auto' | 'native' | 'js';
  /** CPU threads of the native backend (default: all cores). */
  threads?: number;
}

export interface GptqResult {
  /** Index into the alphabet per weight (n0 x n1). */
  codes: Int32Array;
  /** Quantized weights (n0 x n1). */
  q: Float32Array;
  /** Per neuron ||X w_j − X~ q_j|| (NaN when K = XᵀX was not tracked). */
  error: Float64Array;
  /** Per neuron error / ||X w_j||. */
  relError: Float64Array;
  backend: 'native' | 'js';
  precision: 'float32' | 'float64';
  seconds: number;
}

/**
 * Quantizes one layer with GPTQ: dead inputs (H_tt = 0) are zeroed, H is damped, U = chol(H⁻¹)
 * upper, and the rows are rounded in order (or act-order) with the rounding error of each row
 * pushed onto the rows not yet visited. Throws QNN_E_VALUE when the damped H is not positive
 * definite (increase percDamp). With a GramMatrices input, H and K are mirrored in place
 * (lower → upper), as gpfq() does.
 */
export async function gptq(opts: GptqOptions): Promise<GptqResult> {
  const o = checkOptions(opts, 'gptq options');
  const n0 = checkInt('n0', o.n0, 1, 1 << 20);
  const n1 = checkInt('n1', o.n1, 1);
  const w = checkF32('weights', o.weights, n0 * n1);
  const levels = checkAlphabet(o.alphabet);
  const spec = quantSpec(opts, levels);
  const blockSize = o.blockSize === undefined ? 128 : checkInt('blockSize', o.blockSize, 1, 65536);
  const percDamp = o.percDamp === undefined ? 0.01 : checkNumber('percDamp', o.percDamp, 0, 1e6);
  const actOrder = Boolean(o.actOrder);
  const threads = o.threads === undefined ? 0 : checkInt('threads', o.threads, 0, 256);
  let precision = checkOneOf('precision', o.precision, ['float32', 'float64'] as const, 'float32');
  const choice = checkOneOf('backend', o.backend, ['auto', 'native', 'js'] as const, 'auto');
  checkFinite('weights', w);

  let x: Float32Array | undefined;
  let xq: Float32Array | undefined;
  let mats: GramMatrices | undefined;
  if (o.gram !== undefined) {
    if (o.x !== undefined || o.xq !== undefined) throw new QnnError('QNN_E_VALUE', 'pass either `gram` or `x`/`xq`, not both');
    mats = o.gram instanceof GramAccumulator ? await o.gram.matrices() : checkMatrices(o.gram as GramMatrices);
    if (mats.d !== n0) throw new QnnError('QNN_E_SHAPE', `the Gram matrices are ${mats.d} x ${mats.d} but the weights have n0 = ${n0} rows`);
    precision = typedKind(mats.h) === 'Float64Array' ? 'float64' : 'float32';
  } else {
    if (o.x === undefined) throw new QnnError('QNN_E_TYPE', '`x` (the layer inputs, m x n0) or `gram` is required');
    x = checkF32('x', o.x);
    const m = o.m === undefined ? x.length / n0 : checkInt('m', o.m, 1);
    if (!Number.isInteger(m) || m < 1) throw new QnnError('QNN_E_SHAPE', `\`x\` has ${x.length} values, not a positive multiple of n0 = ${n0}`);
    checkF32('x', x, m * n0);
    if (o.xq !== undefined) xq = checkF32('xq', o.xq, m * n0);
    checkFinite('x', x);
    if (xq) checkFinite('xq', xq);
  }

  // GPTQ has no CUDA kernel: an 'auto' that would pick CUDA runs on the native CPU backend.
  const backend = resolveBackend(choice) === 'js' ? 'js' : 'native';
  const start = process.hrtime.bigint();
  if (!mats) {
    const acc = new GramAccumulator({ d: n0, precision, same: !xq, backend, threads });
    await acc.add(x!, xq);
    mats = await acc.matrices();
  }
  let r: { codes: Int32Array; q: Float32Array; error: Float64Array; relError: Float64Array };
  try {
    r =
      backend === 'js'
        ? gptqRef(w, n0, n1, mats.g, mats.h, mats.k, mats.same, levels, { percDamp, actOrder, quant: spec })
        : await binding().gptq({
            weights: w, n0, n1, levels, g: mats.g, h: mats.h, k: mats.k, same: mats.same,
            block: blockSize, percDamp, actOrder, threads, quant: toNativeQuant(spec),
          });
  } catch (e) {
    throw toQnnError(e);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { ...r, backend, precision: backend === 'js' ? 'float64' : precision, seconds };
}

function checkMatrices(g: GramMatrices): GramMatrices {
  const o = checkOptions(g, '`gram`');
  const d = checkInt('gram.d', o.d, 1, 1 << 20);
  const h = checkGram('gram.h', o.h, d * d);
  const same = Boolean(o.same);
  const gg = o.g === undefined || same ? undefined : checkGram('gram.g', o.g, d * d);
  const k = o.k === undefined || same ? undefined : checkGram('gram.k', o.k, d * d);
  for (const [name, a] of [['gram.g', gg], ['gram.k', k]] as const) {
    if (a && typedKind(a) !== typedKind(h)) throw new QnnError('QNN_E_TYPE', `\`${name}\` must have the same element type as gram.h`);
  }
  for (const [name, a] of [['gram.h', h], ['gram.g', gg], ['gram.k', k]] as const) if (a) checkFinite(name, a as GramArray);
  return { d, same, rows: Number(o.rows ?? 0), g: gg, h, k };
}
