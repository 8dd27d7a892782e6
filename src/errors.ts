/**
 * One error type for the whole package. `code` is stable and documented; messages name the input
 * and the fix. Native errors (which carry the same QNN_E_* codes) are wrapped by {@link toQnnError}.
 */
export type QnnErrorCode =
  | 'QNN_E_TYPE' // an argument has the wrong type
  | 'QNN_E_SHAPE' // lengths or shapes do not agree
  | 'QNN_E_VALUE' // NaN / Inf or otherwise invalid values
  | 'QNN_E_RANGE' // a scalar option is outside its range
  | 'QNN_E_EMPTY' // no data
  | 'QNN_E_DETACHED' // a detached ArrayBuffer
  | 'QNN_E_CUDA' // CUDA runtime failure
  | 'QNN_E_CUDA_UNAVAILABLE' // CUDA not compiled or no device
  | 'QNN_E_MEMORY' // allocation failed / does not fit
  | 'QNN_E_NATIVE_UNAVAILABLE' // the native addon is not loaded (backend 'native' requested)
  | 'QNN_E_IO' // file system errors, corrupt files
  | 'QNN_E_MODEL' // model files that cannot be read or used
  | 'QNN_E_UNSUPPORTED' // unsupported layers / features
  | 'QNN_E_DATA' // datasets missing or not matching the model
  | 'QNN_E_EXISTS' // output exists and --force was not given
  | 'QNN_E_ABORTED' // interrupted (Ctrl-C)
  | 'QNN_E_INTERNAL';

export class QnnError extends Error {
  readonly code: QnnErrorCode;
  /** What the user can do about it, when known (already part of the message). */
  readonly hint?: string;

  constructor(code: QnnErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(options?.hint ? `${message}. ${options.hint}` : message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'QnnError';
    this.code = code;
    this.hint = options?.hint;
  }
}

const KNOWN = new Set<string>([
  'QNN_E_TYPE', 'QNN_E_SHAPE', 'QNN_E_VALUE', 'QNN_E_RANGE', 'QNN_E_EMPTY', 'QNN_E_DETACHED', 'QNN_E_CUDA',
  'QNN_E_CUDA_UNAVAILABLE', 'QNN_E_MEMORY', 'QNN_E_NATIVE_UNAVAILABLE', 'QNN_E_IO', 'QNN_E_MODEL',
  'QNN_E_UNSUPPORTED', 'QNN_E_DATA', 'QNN_E_EXISTS', 'QNN_E_ABORTED', 'QNN_E_INTERNAL',
]);

/** Converts anything thrown (native errors with `.code`, Node system errors, ...) to a QnnError. */
export function toQnnError(e: unknown, context?: string): QnnError {
  if (e instanceof QnnError) return e;
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const msg = typeof err?.message === 'string' ? err.message : String(e);
  const prefixed = context ? `${context}: ${msg}` : msg;
  if (typeof err?.code === 'string' && KNOWN.has(err.code)) return new QnnError(err.code as QnnErrorCode, prefixed, { cause: e });
  if (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code)) return new QnnError('QNN_E_IO', prefixed, { cause: e });
  return new QnnError('QNN_E_INTERNAL', prefixed, { cause: e });
}
