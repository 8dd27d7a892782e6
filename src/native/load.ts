/**
 * Loads the native addon once, with an honest fallback: every failure is recorded, the package
 * falls back to the pure-TS backend, and `QNN_REQUIRE_NATIVE=1` turns the fallback into an error
 * that lists each cause and the fix. `QNN_NATIVE=0` forces the TS backend. `QNN_NATIVE_PATH`
 * points at a specific .node file (bundlers, custom builds) and is then the only one tried.
 */
import * as fs from 'fs';
import * as path from 'path';

import { QnnError } from '../errors';
import type { NativeBinding } from './types';

export interface NativeLoadState {
  binding: NativeBinding | null;
  /** Path of the loaded .node file. */
  path?: string;
  /** Why the native backend is not in use (empty when loaded). */
  failures: string[];
  /** True when QNN_NATIVE=0 disabled it on purpose. */
  disabled: boolean;
}

let state: NativeLoadState | undefined;

function candidates(): string[] {
  const root = path.resolve(__dirname, '..', '..');
  // An explicit path is the only candidate: never fall back silently to another build.
  if (process.env.QNN_NATIVE_PATH) return [path.resolve(process.env.QNN_NATIVE_PATH)];
  return [path.join(root, 'build', 'Release', 'qnn_native.node'), path.join(root, 'build', 'Debug', 'qnn_native.node')];
}

function tryLoad(): NativeLoadState {
  if (process.env.QNN_NATIVE === '0') {
    return { binding: null, failures: ['QNN_NATIVE=0 disables the native addon'], disabled: true };
  }
  const failures: string[] = [];
  for (const file of candidates()) {
    if (!fs.existsSync(file)) {
      failures.push(`${file}: not built`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(file) as NativeBinding;
      binding.buildInfo();
      return { binding, path: file, failures: [], disabled: false };
    } catch (e) {
      failures.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { binding: null, failures, disabled: false };
}

/** The load state (cached after the first call). Never throws. */
export function nativeState(): NativeLoadState {
  if (!state) state = tryLoad();
  return state;
}

/** Resets the cache (tests). */
export function resetNativeState(): void {
  state = undefined;
}

/**
 * The binding, or null when the TS backend must be used. With QNN_REQUIRE_NATIVE=1 a missing
 * addon throws QNN_E_NATIVE_UNAVAILABLE listing every load failure.
 */
export function native(): NativeBinding | null {
  const s = nativeState();
  if (!s.binding && process.env.QNN_REQUIRE_NATIVE === '1') {
    throw nativeUnavailableError(s);
  }
  return s.binding;
}

export function nativeUnavailableError(s: NativeLoadState = nativeState()): QnnError {
  return new QnnError(
    'QNN_E_NATIVE_UNAVAILABLE',
    `the qnn-native addon is not available:\n${s.failures.map((f) => `  - ${f}`).join('\n')}`,
    {
      hint: s.disabled
        ? 'Unset QNN_NATIVE (or use backend "js")'
        : 'Build it with `npm rebuild qnn-native` (needs a C++17 compiler and CMake >= 3.18; see build/install-*.log), or use backend "js"',
    },
  );
}
