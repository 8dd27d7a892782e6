/**
 * Integer grids for exporting quantized tensors losslessly: TF.js decodes a uint8/uint16 weight
 * as Math.fround(code · scale + min) (`quantization: {dtype, scale, min}` in model.json), so a
 * tensor can be stored that way exactly when every value satisfies that identity.
 */

/** codes[i] · step + min, rounded to float32, equals values[i] for every i. */
export interface ValueGrid {
  /** The scale of the affine decode (a double). */
  step: number;
  /** The offset of the affine decode (a double). */
  min: number;
  /** Non-negative integer code per value. */
  codes: Uint32Array;
}

/**
 * The grid {step, min, codes} when it reproduces `values` exactly (checked value by value with
 * Math.fround(codes[i] * step + min) === values[i]), otherwise undefined. Never approximates.
 */
export function exactGrid(values: Float32Array, codes: Uint32Array, step: number, min: number): ValueGrid | undefined {
  if (codes.length !== values.length || !Number.isFinite(step) || !Number.isFinite(min)) return undefined;
  for (let i = 0; i < values.length; i++) {
    if (Math.fround(codes[i] * step + min) !== values[i]) return undefined;
  }
  return { step, min, codes };
}
