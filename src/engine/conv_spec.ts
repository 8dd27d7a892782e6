/**
 * Patch options for conv layers (TF semantics) and their translation to the reference and native
 * specs. Modes (ALGORITHMS.md 3.4, 4.2):
 * - 'filter': whole-filter neurons (kh·kw·Cin/groups inputs), patches at the layer's true stride;
 * - 'channel': Lybrand channel-parallel, one column group per input channel (also depthwise);
 * - 'zzs': whole filter, stride = kernel size (non-overlapping), seeded retain-rate subsampling.
 */
import { QnnError } from '../errors';
import type { NativeConvSpec } from '../native/types';
import { ConvGeometry, ConvSpec, convGeometryRef } from '../reference/im2col';
import { checkInt, checkNumber, checkOneOf, checkOptions } from './validate';

export type PatchMode = 'filter' | 'channel' | 'zzs';

export interface ConvPatchOptions {
  /** Input batch shape [n, h, w, c] (NHWC). */
  shape: readonly number[];
  /** Kernel size [kh, kw]. */
  kernel: readonly number[];
  strides?: number | readonly number[];
  dilations?: number | readonly number[];
  padding?: 'same' | 'valid';
  mode?: PatchMode;
  /** Conv groups for 'filter' / 'zzs' (Cin % groups == 0). Default 1. */
  groups?: number;
  /** Column order inside a group: 'hwc' (Keras kernel order, default) or 'chw' (torch / ZZS order). */
  order?: 'hwc' | 'chw';
  /** 'zzs': fraction of non-overlapping blocks sampled per image (int(p·L + 1) with replacement); 1 = all. */
  retainRate?: number;
  seed?: number;
  /** Global index of the batch's first image (seeds its sampling stream). */
  imageOffset?: number;
}

function pair(name: string, v: unknown, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  if (typeof v === 'number') return [checkInt(name, v, 1), checkInt(name, v, 1)];
  if (Array.isArray(v) && v.length === 2) return [checkInt(`${name}[0]`, v[0], 1), checkInt(`${name}[1]`, v[1], 1)];
  throw new QnnError('QNN_E_TYPE', `\`${name}\` must be a positive integer or a pair [h, w]`);
}

export function toConvSpecs(opts: ConvPatchOptions): { ref: ConvSpec; native: NativeConvSpec; geometry: ConvGeometry } {
  const o = checkOptions(opts, 'conv patch options');
  const shape = o.shape as unknown;
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new QnnError('QNN_E_SHAPE', '`shape` must be the NHWC input shape [n, h, w, c]');
  }
  const [n, h, w, c] = [checkInt('shape[0]', shape[0], 0), checkInt('shape[1]', shape[1], 1), checkInt('shape[2]', shape[2], 1), checkInt('shape[3]', shape[3], 1)];
  const [kh, kw] = pair('kernel', o.kernel, 1);
  if (o.kernel === undefined) throw new QnnError('QNN_E_TYPE', '`kernel` [kh, kw] is required');
  const [sh, sw] = pair('strides', o.strides, 1);
  const [dh, dw] = pair('dilations', o.dilations, 1);
  const padding = checkOneOf('padding', o.padding, ['same', 'valid'] as const, 'valid');
  const mode = checkOneOf('mode', o.mode, ['filter', 'channel', 'zzs'] as const, 'filter');
  const order = checkOneOf('order', o.order, ['hwc', 'chw'] as const, 'hwc');
  let groups = o.groups === undefined ? 1 : checkInt('groups', o.groups, 1);
  if (mode === 'channel') {
    if (groups !== 1) throw new QnnError('QNN_E_RANGE', "mode 'channel' makes one group per input channel; do not pass groups");
    groups = c;
  }
  if (c % groups !== 0) throw new QnnError('QNN_E_SHAPE', `input channels (${c}) must be divisible by groups (${groups})`);
  const retain = o.retainRate === undefined ? 1 : checkNumber('retainRate', o.retainRate, Number.MIN_VALUE, 1);
  const seed = o.seed === undefined ? 0 : checkInt('seed', o.seed, 0, 0xffffffff);
  const imageOffset = o.imageOffset === undefined ? 0 : checkInt('imageOffset', o.imageOffset, 0);
  const ref: ConvSpec = { n, h, w, c, kh, kw, sh, sw, dh, dw, same: padding === 'same', groups, zzs: mode === 'zzs', chw: order === 'chw', retain, seed, imageOffset };
  const native: NativeConvSpec = { n, h, w, c, kh, kw, sh, sw, dh, dw, padding, groups, mode: mode === 'zzs' ? 'zzs' : 'stride', order, retain, seed, imageOffset };
  return { ref, native, geometry: convGeometryRef(ref) };
}
