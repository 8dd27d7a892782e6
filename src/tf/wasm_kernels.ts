/**
 * Training kernels for the TF.js wasm backend (ENVIRONMENT.md §1.2), registered at start-up by
 * runtime.ts:
 * - `Conv2DBackpropFilter` (the filter gradient of Conv2D) is missing on wasm, so Conv2D models
 *   could not train there; ours is composed from the wasm Transpose and Conv2D (XNNPACK) kernels.
 * - `Conv2DBackpropInput` exists on wasm but is a naive loop, 8–10× slower than a Conv2D of the
 *   same size, and was most of the time of a CNN training step; ours computes stride-1 cases as a
 *   Conv2D with the flipped filter (bit-identical results) and hands every other case to the
 *   original kernel.
 * - `Tile` exists on wasm but costs ~80 ns per output value; the BatchNorm gradient tiles a
 *   per-channel vector to the activation shape on every step (30% of a CNN step). Ours copies
 *   blocks on the wasm heap instead.
 * Measured on the Lybrand CNN (28×28×1, batch 64): 3.4 s per step with the stock kernels, 1.5 s
 * with the first two, about 1.1 s with all three.
 */
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import type { Tf } from './runtime';

/**
 * Attributes of the filter-gradient kernel. TF.js passes no `dilations` (its Conv2D gradient
 * rejects dilation rates > 1); the kernel honours one if a caller supplies it.
 */
type BackpropFilterAttrs = Conv2DBackpropFilterAttrs & { dilations?: number | [number, number] };

interface KernelArgs<I, A> {
  inputs: I;
  backend: KernelBackend;
  attrs: A;
}

/** Kernel functions of ours, so that registering twice does not wrap a wrapper. */
const ours = new WeakSet<KernelFunc>();

/**
 * Runs wasm kernels and tracks their outputs: {@link Runner.finish} disposes every intermediate
 * and returns the one result.
 */
class Runner {
  private readonly owned: TensorInfo[] = [];

  constructor(
    private readonly tf: Tf,
    private readonly backend: KernelBackend,
  ) {}

  run(name: string, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo {
    const config = this.tf.getKernel(name, 'wasm');
    if (!config) throw new QnnError('QNN_E_INTERNAL', `the wasm backend has no '${name}' kernel`);
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs: attrs as NamedAttrMap }) as TensorInfo;
    this.owned.push(out);
    return out;
  }

  /** Disposes every intermediate except `result` (undefined: all of them, after a failure). */
  finish(result?: TensorInfo): TensorInfo | undefined {
    for (const t of this.owned) if (t !== result) this.backend.disposeData(t.dataId);
    this.owned.length = 0;
    return result;
  }
}

/**
 * dW[i, j, c, f] = Σ_{n, oh, ow} xpad[n, oh·sh + i·dh, ow·sw + j·dw, c] · dy[n, oh, ow, f] is itself a
 * convolution, with the channels as the batch and the images as the contracted channels:
 * Conv2D(input = xᵀ [C, H, W, N], filter = dyᵀ [OH, OW, N, F], strides = (dh, dw),
 * dilations = (sh, sw), the forward padding) → [C, KH, KW, F] → transposed to [KH, KW, C, F].
 * The wasm Conv2D (XNNPACK) runs it without an im2col buffer, about 5× faster than
 * im2col + BatchMatMul for a 3×3×32×32 layer on a batch of 128 (0.14 s vs 0.75 s).
 */
function conv2dBackpropFilter(tf: Tf, args: KernelArgs<{ x: TensorInfo; dy: TensorInfo }, BackpropFilterAttrs>): TensorInfo {
  const { inputs: { x, dy }, backend, attrs } = args;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  if (info.dataFormat !== 'channelsLast') {
    throw new QnnError('QNN_E_UNSUPPORTED', `Conv2DBackpropFilter on the wasm backend supports NHWC only (got dataFormat '${attrs.dataFormat}')`, {
      hint: 'Build the model with dataFormat channelsLast',
    });
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new QnnError('QNN_E_UNSUPPORTED', `Conv2DBackpropFilter on the wasm backend supports float32 only (got ${x.dtype}, ${dy.dtype})`);
  }
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: f } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  // Rows/columns of the padded input that some window reaches; the rest is cropped away.
  const needH = (kh - 1) * dh + (oh - 1) * sh + 1;
  const needW = (kw - 1) * dw + (ow - 1) * sw + 1;
  const useH = Math.min(h, needH - top);
  const useW = Math.min(w, needW - left);
  const r = new Runner(tf, backend);
  try {
    if (useH <= 0 || useW <= 0) {
      // Every window lies in the padding: the gradient is zero.
      return r.finish(r.run('Fill', {}, { shape: [kh, kw, c, f], value: 0, dtype: 'float32' })) as TensorInfo;
    }
    let xt = r.run('Transpose', { x }, { perm: [3, 1, 2, 0] });
    if (useH < h || useW < w) xt = r.run('Slice', { x: xt }, { begin: [0, 0, 0, 0], size: [c, useH, useW, n] });
    const dyt = r.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
    const grad = r.run('Conv2D', { x: xt, filter: dyt }, {
      strides: [dh, dw],
      dilations: [sh, sw],
      pad: [[0, 0], [top, needH - top - useH], [left, needW - left - useW], [0, 0]],
      dataFormat: 'NHWC',
    });
    return r.finish(r.run('Transpose', { x: grad }, { perm: [1, 2, 0, 3] })) as TensorInfo;
  } catch (e) {
    r.finish();
    throw e;
  }
}

/**
 * dx for a stride-1 Conv2D: dx = Conv2D(dy, V) with V[i, j, f, c] = W[KH−1−i, KW−1−j, c, f] and
 * padding (KH−1−top, KH−1−bottom) × (KW−1−left, KW−1−right). Other cases (strides > 1, padding
 * wider than the kernel, NCHW, non-float32) go to `fallback`, the wasm backend's own kernel.
 */
function conv2dBackpropInput(
  tf: Tf,
  fallback: KernelFunc,
  args: KernelArgs<{ dy: TensorInfo; filter: TensorInfo }, Conv2DBackpropInputAttrs>,
): TensorInfo {
  const { inputs: { dy, filter }, backend, attrs } = args;
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, bottom, left, right } = info.padInfo;
  const plain = info.dataFormat === 'channelsLast' && dy.dtype === 'float32' && filter.dtype === 'float32';
  if (!plain || sh !== 1 || sw !== 1 || top >= kh || bottom >= kh || left >= kw || right >= kw) {
    return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const r = new Runner(tf, backend);
  try {
    const flipped = r.run('Reverse', { x: filter }, { dims: [0, 1] });
    const v = r.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });
    return r.finish(
      r.run('Conv2D', { x: dy, filter: v }, {
        strides: 1,
        dilations: 1,
        pad: [[0, 0], [kh - 1 - top, kh - 1 - bottom], [kw - 1 - left, kw - 1 - right], [0, 0]],
        dataFormat: 'NHWC',
      }),
    ) as TensorInfo;
  } catch (e) {
    r.finish();
    throw e;
  }
}

/** The wasm backend's heap view of a tensor (not part of the generic KernelBackend type). */
interface WasmHeap {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * out = tile(x, reps) by block copies: each x row of the last axis is copied once, then every
 * axis, innermost first, replicates its block with copyWithin. Strings go to `fallback`.
 */
function tile(fallback: KernelFunc, args: KernelArgs<{ x: TensorInfo }, { reps: number[] }>): TensorInfo {
  const { inputs: { x }, backend, attrs: { reps } } = args;
  if (x.dtype === 'string' || reps.length !== x.shape.length || x.shape.length === 0) {
    return fallback(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const heap = backend as unknown as WasmHeap;
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = heap.makeOutput(outShape, x.dtype);
  if (outShape.some((d) => d === 0)) return out;
  // Views taken after makeOutput, which may grow (and so detach) the wasm memory.
  const src = heap.typedArrayFromHeap(x);
  const dst = heap.typedArrayFromHeap(out);
  const xInner = new Array<number>(rank);
  const outInner = new Array<number>(rank);
  xInner[rank - 1] = 1;
  outInner[rank - 1] = 1;
  for (let k = rank - 2; k >= 0; k--) {
    xInner[k] = xInner[k + 1] * x.shape[k + 1];
    outInner[k] = outInner[k + 1] * outShape[k + 1];
  }
  const fill = (xOff: number, outOff: number, k: number): void => {
    const n = x.shape[k];
    if (k === rank - 1) {
      dst.set(src.subarray(xOff, xOff + n), outOff);
    } else {
      for (let j = 0; j < n; j++) fill(xOff + j * xInner[k], outOff + j * outInner[k], k + 1);
    }
    const block = n * outInner[k];
    for (let done = 1; done < reps[k]; ) {
      const copies = Math.min(done, reps[k] - done);
      dst.copyWithin(outOff + done * block, outOff, outOff + copies * block);
      done += copies;
    }
  };
  fill(0, 0, 0);
  return out;
}

/**
 * Registers our training kernels for the `wasm` backend (see the module comment). Idempotent:
 * calling it again changes nothing, and a `Conv2DBackpropFilter` that TF.js itself provides
 * (a future version) is left alone.
 */
export function registerWasmTrainingKernels(tf: Tf): void {
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    const kernelFunc: KernelFunc = (args) => conv2dBackpropFilter(tf, args as unknown as Parameters<typeof conv2dBackpropFilter>[1]);
    ours.add(kernelFunc);
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc });
  }
  const input = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (input && !ours.has(input.kernelFunc)) {
    const fallback = input.kernelFunc;
    const kernelFunc: KernelFunc = (args) => conv2dBackpropInput(tf, fallback, args as unknown as Parameters<typeof conv2dBackpropInput>[2]);
    ours.add(kernelFunc);
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel({ ...input, kernelFunc });
  }
  const tiler = tf.getKernel('Tile', 'wasm');
  if (tiler && !ours.has(tiler.kernelFunc)) {
    const fallback = tiler.kernelFunc;
    const kernelFunc: KernelFunc = (args) => tile(fallback, args as unknown as Parameters<typeof tile>[1]);
    ours.add(kernelFunc);
    tf.unregisterKernel('Tile', 'wasm');
    tf.registerKernel({ ...tiler, kernelFunc });
  }
}
