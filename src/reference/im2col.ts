/**
 * Patch extraction with TensorFlow conv semantics, the same as native/src/cpu/im2col.cc
 * (column groups, hwc/chw order, true-stride or ZZS non-overlapping seeded sampling).
 */
import { QnnError } from '../errors';
import { mixSeed, Rng32 } from '../util/rng';

export interface ConvSpec {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  same: boolean;
  groups: number;
  zzs: boolean;
  chw: boolean;
  retain: number;
  seed: number;
  imageOffset: number;
}

export interface ConvGeometry {
  oh: number;
  ow: number;
  padTop: number;
  padLeft: number;
  sh: number;
  sw: number;
  rowsPerImage: number;
  cols: number;
  colsPerGroup: number;
}

/** TF output size and leading padding of one spatial dimension. */
export function tfOutputDim(inp: number, k: number, stride: number, dilation: number, same: boolean): [number, number] {
  const eff = (k - 1) * dilation + 1;
  if (same) {
    const out = Math.ceil(inp / stride);
    const total = Math.max((out - 1) * stride + eff - inp, 0);
    return [out, Math.floor(total / 2)];
  }
  return [inp >= eff ? Math.floor((inp - eff) / stride) + 1 : 0, 0];
}

export function convGeometryRef(s: ConvSpec): ConvGeometry {
  if (!(s.h > 0 && s.w > 0 && s.c > 0 && s.n >= 0)) {
    throw new QnnError('QNN_E_SHAPE', `conv input must be NHWC with positive H, W, C (got [${s.n}, ${s.h}, ${s.w}, ${s.c}])`);
  }
  if (s.c % s.groups !== 0) {
    throw new QnnError('QNN_E_SHAPE', `input channels (${s.c}) must be divisible by groups (${s.groups})`);
  }
  const sh = s.zzs ? s.kh : s.sh;
  const sw = s.zzs ? s.kw : s.sw;
  const [oh, padTop] = tfOutputDim(s.h, s.kh, sh, s.dh, s.same);
  const [ow, padLeft] = tfOutputDim(s.w, s.kw, sw, s.dw, s.same);
  if (!(oh > 0 && ow > 0)) {
    throw new QnnError(
      'QNN_E_SHAPE',
      `the kernel (${s.kh}x${s.kw}, dilation ${s.dh}x${s.dw}) does not fit the ${s.h}x${s.w} input with 'valid' padding`,
    );
  }
  const L = oh * ow;
  const rowsPerImage = s.zzs && s.retain < 1 ? Math.trunc(s.retain * L + 1) : L;
  const cols = s.kh * s.kw * s.c;
  return { oh, ow, padTop, padLeft, sh, sw, rowsPerImage, cols, colsPerGroup: cols / s.groups };
}

/** Positions (oy * ow + ox) of the patch rows of batch image `image`. */
export function patchPositionsRef(s: ConvSpec, g: ConvGeometry, image: number): Int32Array {
  const L = g.oh * g.ow;
  const out = new Int32Array(g.rowsPerImage);
  if (!(s.zzs && s.retain < 1)) {
    for (let i = 0; i < L; i++) out[i] = i;
    return out;
  }
  const rng = new Rng32(mixSeed(s.seed, (s.imageOffset + image) >>> 0));
  for (let i = 0; i < g.rowsPerImage; i++) out[i] = rng.below(L);
  return out;
}

/** Patch rows [row0, row0 + nrows) of the batch, row-major nrows x cols. */
export function im2colRowsRef(s: ConvSpec, g: ConvGeometry, x: Float32Array, row0: number, nrows: number): Float32Array {
  const dst = new Float32Array(nrows * g.cols);
  const cg = s.c / s.groups;
  const kk = s.kh * s.kw;
  const rpi = g.rowsPerImage;
  let positions: Int32Array | undefined;
  let posImage = -1;
  for (let r = row0; r < row0 + nrows; r++) {
    const n = Math.floor(r / rpi);
    if (n !== posImage) {
      positions = patchPositionsRef(s, g, n);
      posImage = n;
    }
    const p = positions![r - n * rpi];
    const oy = Math.floor(p / g.ow);
    const ox = p % g.ow;
    const base = (r - row0) * g.cols;
    const img = n * s.h * s.w * s.c;
    for (let ky = 0; ky < s.kh; ky++) {
      const iy = oy * g.sh + ky * s.dh - g.padTop;
      for (let kx = 0; kx < s.kw; kx++) {
        const ix = ox * g.sw + kx * s.dw - g.padLeft;
        const inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
        const px = img + (iy * s.w + ix) * s.c;
        const k = ky * s.kw + kx;
        for (let gi = 0; gi < s.groups; gi++) {
          const gbase = base + gi * g.colsPerGroup;
          for (let c = 0; c < cg; c++) {
            const col = s.chw ? c * kk + k : k * cg + c;
            dst[gbase + col] = inside ? x[px + gi * cg + c] : 0;
          }
        }
      }
    }
  }
  return dst;
}
