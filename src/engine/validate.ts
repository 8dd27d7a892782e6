/**
 * Argument checks shared by every backend, run before any work. Failures are QnnErrors whose
 * message names the argument and the fix.
 */
import { QnnError } from '../errors';

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return typedKind(v) ?? 'TypedArray';
  if (Array.isArray(v)) return 'Array';
  return typeof v;
}

function isDetached(v: ArrayBufferView): boolean {
  try {
    new Uint8Array(v.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

type TypedName = 'Float32Array' | 'Float64Array' | 'Int32Array';

/** Typed-array kind by its toStringTag: realm-independent (arrays made by the addon or in a vm
 * context are not `instanceof` this realm's constructors). */
export function typedKind(v: unknown): string | undefined {
  return ArrayBuffer.isView(v) ? (Object.prototype.toString.call(v).slice(8, -1) as string) : undefined;
}

function checkTyped<T extends ArrayBufferView & { length: number }>(
  name: string,
  v: unknown,
  kinds: TypedName[],
  expected?: number,
): T {
  const kind = typedKind(v);
  if (!kind || !kinds.includes(kind as TypedName)) {
    throw new QnnError('QNN_E_TYPE', `\`${name}\` must be a ${kinds.join(' or ')} (got ${describe(v)})`, {
      hint: kinds[0] === 'Float32Array' ? `Convert with Float32Array.from(${name})` : undefined,
    });
  }
  const arr = v as T;
  if (isDetached(arr)) {
    throw new QnnError('QNN_E_DETACHED', `\`${name}\` is backed by a detached ArrayBuffer (it was transferred)`, {
      hint: 'Pass a live copy of the data',
    });
  }
  if (expected !== undefined && arr.length !== expected) {
    throw new QnnError('QNN_E_SHAPE', `\`${name}\` has ${arr.length} elements but the given shape needs ${expected}`);
  }
  return arr;
}

export function checkF32(name: string, v: unknown, expected?: number): Float32Array {
  return checkTyped<Float32Array>(name, v, ['Float32Array'], expected);
}

export function checkGram(name: string, v: unknown, expected: number): Float32Array | Float64Array {
  return checkTyped<Float32Array | Float64Array>(name, v, ['Float32Array', 'Float64Array'], expected);
}

export function checkFinite(name: string, v: Float32Array | Float64Array): void {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!Number.isFinite(x)) {
      throw new QnnError('QNN_E_VALUE', `\`${name}\` contains ${Number.isNaN(x) ? 'NaN' : 'Infinity'} at index ${i}`, {
        hint: 'Remove or clip non-finite values',
      });
    }
  }
}

export function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new QnnError('QNN_E_TYPE', `\`${name}\` must be an integer (got ${describe(v)}${typeof v === 'number' ? ` ${v}` : ''})`);
  }
  if (v < min || v > max) {
    throw new QnnError('QNN_E_RANGE', `\`${name}\` must be in [${min}, ${max}] (got ${v})`);
  }
  return v;
}

export function checkNumber(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !(v >= min && v <= max)) {
    throw new QnnError('QNN_E_RANGE', `\`${name}\` must be a number in [${min}, ${max}] (got ${String(v)})`);
  }
  return v;
}

export function checkOneOf<T extends string>(name: string, v: unknown, allowed: readonly T[], fallback: T): T {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || !allowed.includes(v as T)) {
    throw new QnnError('QNN_E_RANGE', `\`${name}\` must be one of ${allowed.map((a) => `'${a}'`).join(', ')} (got ${JSON.stringify(v)})`);
  }
  return v as T;
}

/** Alphabet: non-empty, finite, ascending. */
export function checkAlphabet(v: unknown): Float32Array {
  const a = checkF32('alphabet', v);
  if (a.length === 0) throw new QnnError('QNN_E_EMPTY', '`alphabet` must have at least one level');
  checkFinite('alphabet', a);
  for (let i = 1; i < a.length; i++) {
    if (a[i] < a[i - 1]) {
      throw new QnnError('QNN_E_VALUE', `\`alphabet\` must be sorted ascending (index ${i} is smaller than the one before)`);
    }
  }
  return a;
}

export function checkOptions(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) {
    throw new QnnError('QNN_E_TYPE', `${what} must be an options object (got ${describe(v)})`);
  }
  return v as Record<string, unknown>;
}
