/**
 * TensorFlow.js runtime selection. `@tensorflow/tfjs-node` is used automatically when the user
 * has it installed (optional peer dependency; it cannot install on machines without access to
 * libtensorflow downloads); otherwise `@tensorflow/tfjs` with the single-threaded SIMD `wasm`
 * backend, which always works, with the `cpu` backend kept registered as a fallback.
 *
 * QNN_TF_BACKEND=node|wasm|cpu forces a choice.
 */
import type * as TfModule from '@tensorflow/tfjs';

import { QnnError } from '../errors';
import { registerWasmTrainingKernels } from './wasm_kernels';

export type Tf = typeof TfModule;

export interface TfRuntimeInfo {
  /** Active TF.js backend name: 'tensorflow' (tfjs-node), 'wasm' or 'cpu'. */
  backend: string;
  /** Package that provides the tf namespace. */
  package: '@tensorflow/tfjs-node' | '@tensorflow/tfjs';
  version: string;
  /** Why this backend was chosen. */
  reason: string;
}

let loading: Promise<Tf> | undefined;
let info: TfRuntimeInfo | undefined;

function tryRequireTfNode(): { tf?: Tf; why: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tf = require('@tensorflow/tfjs-node') as Tf;
    return { tf, why: '@tensorflow/tfjs-node is installed' };
  } catch (e) {
    const code = (e as { code?: string }).code;
    return {
      why:
        code === 'MODULE_NOT_FOUND'
          ? '@tensorflow/tfjs-node is not installed'
          : `@tensorflow/tfjs-node failed to load (${(e as Error).message.split('\n')[0]})`,
    };
  }
}

async function load(): Promise<Tf> {
  const forced = (process.env.QNN_TF_BACKEND ?? '').toLowerCase();
  if (forced && !['node', 'wasm', 'cpu'].includes(forced)) {
    throw new QnnError('QNN_E_RANGE', `QNN_TF_BACKEND must be 'node', 'wasm' or 'cpu' (got '${forced}')`);
  }
  let nodeWhy = 'QNN_TF_BACKEND selects another backend';
  if (forced === '' || forced === 'node') {
    const r = tryRequireTfNode();
    nodeWhy = r.why;
    if (r.tf) {
      await r.tf.ready();
      info = { backend: r.tf.getBackend(), package: '@tensorflow/tfjs-node', version: r.tf.version.tfjs, reason: r.why };
      return r.tf;
    }
    if (forced === 'node') {
      throw new QnnError('QNN_E_UNSUPPORTED', `QNN_TF_BACKEND=node but ${r.why}`, {
        hint: 'Install it with `npm install @tensorflow/tfjs-node@4.22.0` or unset QNN_TF_BACKEND',
      });
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as Tf;
  if (forced === 'cpu') {
    await tf.setBackend('cpu');
    info = { backend: 'cpu', package: '@tensorflow/tfjs', version: tf.version.tfjs, reason: 'QNN_TF_BACKEND=cpu' };
    return tf;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs-backend-wasm');
  const ok = await tf.setBackend('wasm');
  if (!ok) {
    await tf.setBackend('cpu');
    info = {
      backend: 'cpu',
      package: '@tensorflow/tfjs',
      version: tf.version.tfjs,
      reason: `${nodeWhy}; the wasm backend failed to initialise, using the (slow) cpu backend`,
    };
    return tf;
  }
  registerWasmTrainingKernels(tf);
  info = {
    backend: 'wasm',
    package: '@tensorflow/tfjs',
    version: tf.version.tfjs,
    reason: `${nodeWhy}; using the SIMD wasm backend (single-threaded in Node)`,
  };
  return tf;
}

/** The TF.js namespace with the best available backend active. Initialises once. */
export function getTf(): Promise<Tf> {
  if (!loading) {
    loading = load().catch((e) => {
      loading = undefined;
      throw e;
    });
  }
  return loading;
}

/** Which backend is active and why; undefined until getTf() has resolved. */
export function tfRuntimeInfo(): TfRuntimeInfo | undefined {
  return info;
}
