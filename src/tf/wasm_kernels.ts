/**
 * Kernels the TF.js wasm backend lacks but training needs (ENVIRONMENT.md 1.2): registered at
 * start-up by runtime.ts. Filled in by the training work (Conv2DBackpropFilter).
 */
import type { Tf } from './runtime';

export function registerWasmTrainingKernels(_tf: Tf): void {
  // Implemented with the training recipes.
}
