/**
 * Gram accumulation in plain TS (ALGORITHMS.md 2.2b): G += Xq^T X, H += Xq^T Xq, K += X^T X.
 * Full matrices are computed (the native code fills lower triangles and mirrors on use; the values
 * are the same products in the same order). Sums per batch are in double; storage rounds to the
 * accumulator's element type.
 */
import type { GramArray } from '../native/types';
import { ConvSpec, convGeometryRef, im2colRowsRef } from './im2col';

function accumulate(dst: GramArray, a: Float32Array, b: Float32Array, rows: number, ld: number, off: number, d: number, doff: number): void {
  const acc = new Float64Array(d * d);
  for (let r = 0; r < rows; r++) {
    const ra = r * ld + off;
    for (let i = 0; i < d; i++) {
      const ai = a[ra + i];
      if (ai === 0) continue;
      const row = i * d;
      for (let j = 0; j < d; j++) acc[row + j] += ai * b[ra + j];
    }
  }
  for (let i = 0; i < d * d; i++) dst[doff + i] += acc[i];
}

/** sums[c] += column c of the rows x d matrix a (c < d). */
function columnSums(sums: Float64Array | undefined, a: Float32Array, rows: number, d: number): void {
  if (!sums) return;
  for (let r = 0; r < rows; r++) for (let c = 0; c < d; c++) sums[c] += a[r * d + c];
}

/** Dense batch: x, xq are rows x d (xq undefined: same inputs, only H); optional column sums. */
export function gramAccumulateRef(
  g: GramArray | undefined,
  h: GramArray,
  k: GramArray | undefined,
  d: number,
  x: Float32Array,
  xq: Float32Array | undefined,
  rows: number,
  sx?: Float64Array,
  sxq?: Float64Array,
): void {
  columnSums(sx, x, rows, d);
  if (xq) columnSums(sxq, xq, rows, d);
  if (!xq) {
    accumulate(h, x, x, rows, d, 0, d, 0);
    return;
  }
  accumulate(g!, xq, x, rows, d, 0, d, 0);
  accumulate(h, xq, xq, rows, d, 0, d, 0);
  if (k) accumulate(k, x, x, rows, d, 0, d, 0);
}

/** Conv batch (NHWC per spec): per column group, into blocks of dg x dg. */
export function gramAccumulateConvRef(
  g: GramArray | undefined,
  h: GramArray,
  k: GramArray | undefined,
  spec: ConvSpec,
  x: Float32Array,
  xq: Float32Array | undefined,
  sx?: Float64Array,
  sxq?: Float64Array,
): void {
  const geo = convGeometryRef(spec);
  const total = geo.rowsPerImage * spec.n;
  const dg = geo.colsPerGroup;
  const chunk = Math.max(1, Math.floor((1 << 20) / geo.cols));
  for (let r0 = 0; r0 < total; r0 += chunk) {
    const rn = Math.min(chunk, total - r0);
    const px = im2colRowsRef(spec, geo, x, r0, rn);
    const pq = xq ? im2colRowsRef(spec, geo, xq, r0, rn) : undefined;
    columnSums(sx, px, rn, geo.cols);
    if (pq) columnSums(sxq, pq, rn, geo.cols);
    for (let gi = 0; gi < spec.groups; gi++) {
      const off = gi * dg;
      const doff = gi * dg * dg;
      if (!pq) {
        accumulate(h, px, px, rn, geo.cols, off, dg, doff);
      } else {
        accumulate(g!, pq, px, rn, geo.cols, off, dg, doff);
        accumulate(h, pq, pq, rn, geo.cols, off, dg, doff);
        if (k) accumulate(k, px, px, rn, geo.cols, off, dg, doff);
      }
    }
  }
}
