/**
 * Backend discovery and selection. `backends()` never throws; `resolveBackend()` turns a request
 * ('auto' | 'native' | 'cuda' | 'js') into an available backend or a clear QnnError.
 */
import { QnnError } from '../errors';
import { native, nativeState, nativeUnavailableError } from '../native/load';
import type { NativeBackendEntry, NativeBinding, NativeBuildInfo } from '../native/types';

export type BackendName = 'native' | 'cuda' | 'js';
export type BackendChoice = BackendName | 'auto';

export interface BackendInfo {
  name: BackendName;
  /** Built into this installation. */
  compiled: boolean;
  /** Usable now. */
  available: boolean;
  /** Why not available ('' when available). */
  reason: string;
  /** Backend-specific facts (threads, SIMD kernel, device name and memory, ...). */
  details: Record<string, unknown>;
}

function cudaEntry(b: NativeBinding | null): NativeBackendEntry | undefined {
  return b?.backends().find((e) => e.name === 'cuda');
}

/** Every backend with its availability and the reason when unavailable. Never throws. */
export function backends(): BackendInfo[] {
  const s = nativeState();
  const out: BackendInfo[] = [];
  if (s.binding) {
    const entries = s.binding.backends();
    const cpu = entries.find((e) => e.name === 'cpu')!;
    out.push({ name: 'native', compiled: true, available: true, reason: '', details: { path: s.path, threads: cpu.threads, kernel: cpu.kernel } });
    const cu = entries.find((e) => e.name === 'cuda')!;
    const { name: _n, compiled, available, reason, ...rest } = cu;
    out.push({ name: 'cuda', compiled, available, reason, details: rest });
  } else {
    const why = s.failures.join('; ');
    out.push({ name: 'native', compiled: false, available: false, reason: why, details: {} });
    out.push({ name: 'cuda', compiled: false, available: false, reason: `the native addon is not loaded (${why})`, details: {} });
  }
  out.push({ name: 'js', compiled: true, available: true, reason: '', details: { note: 'pure TypeScript reference backend' } });
  return out;
}

/** True when the CUDA backend is compiled in and a device is usable. */
export function hasCuda(): boolean {
  const s = nativeState();
  return Boolean(s.binding && cudaEntry(s.binding)?.available);
}

export interface BuildInfo {
  version: string;
  native: NativeBuildInfo | null;
  nativePath?: string;
  nativeFailures: string[];
  node: string;
  platform: string;
  arch: string;
}

/** Versions and compiled-in features of this installation. Never throws. */
export function buildInfo(): BuildInfo {
  const s = nativeState();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pkg = require('../../package.json') as { version: string };
  return {
    version: pkg.version,
    native: s.binding ? s.binding.buildInfo() : null,
    nativePath: s.path,
    nativeFailures: s.failures,
    node: process.version,
    platform: process.platform,
    arch: process.arch,
  };
}

/** Resolves a backend request; throws QNN_E_NATIVE_UNAVAILABLE / QNN_E_CUDA_UNAVAILABLE. */
export function resolveBackend(choice: BackendChoice | undefined): BackendName {
  const c = choice ?? 'auto';
  if (c === 'js') return 'js';
  const b = native();
  if (c === 'auto') {
    if (b && cudaEntry(b)?.available) return 'cuda';
    return b ? 'native' : 'js';
  }
  if (c === 'native') {
    if (!b) throw nativeUnavailableError();
    return 'native';
  }
  if (c === 'cuda') {
    if (!b) throw nativeUnavailableError();
    const e = cudaEntry(b)!;
    if (!e.available) {
      throw new QnnError('QNN_E_CUDA_UNAVAILABLE', `the CUDA backend is unavailable: ${e.reason}`, {
        hint: "Use backend 'native' or 'auto'",
      });
    }
    return 'cuda';
  }
  throw new QnnError('QNN_E_RANGE', `\`backend\` must be 'auto', 'native', 'cuda' or 'js' (got ${JSON.stringify(choice)})`);
}

/** The loaded binding (callers resolved a native or cuda backend first). */
export function binding(): NativeBinding {
  const b = native();
  if (!b) throw nativeUnavailableError();
  return b;
}
