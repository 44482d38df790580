/**
 * Errors across a thread boundary. Structured clone keeps an Error's message
 * but drops its class and own fields, so a worker's coded error would reach
 * the caller as a plain Error without `code` or `retriable`. Workers send
 * this plain form instead, and the caller rebuilds the error: its own coded
 * class when the code is one of its domain's, an OwlError for any other
 * OWL_ERR_* code, else a plain Error (RangeError and TypeError kept).
 */
import { OwlError, type OwlErrorCode } from './errors.js';

/** An error as it crosses the thread boundary. */
export interface WireError {
  name: string;
  message: string;
  code: string | undefined;
  retriable: boolean | undefined;
}

/** The plain form of any thrown value. */
export function toWireError(err: unknown): WireError {
  const e = err as { name?: unknown; message?: unknown; code?: unknown; retriable?: unknown } | null;
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    code: typeof e?.code === 'string' ? e.code : undefined,
    retriable: typeof e?.retriable === 'boolean' ? e.retriable : undefined,
  };
}

/**
 * Rebuild an error; `domain` makes the receiving side's own class for the
 * codes it owns (and returns undefined for the others).
 */
export function fromWireError(
  w: WireError,
  domain: (code: string, message: string, options: { retriable: boolean }) => Error | undefined,
): Error {
  const options = { retriable: w.retriable ?? false };
  const own = w.code === undefined ? undefined : domain(w.code, w.message, options);
  if (own !== undefined) return own;
  if (w.code?.startsWith('OWL_ERR_')) return new OwlError(w.code as OwlErrorCode, w.message, options);
  const err =
    w.name === 'RangeError'
      ? new RangeError(w.message)
      : w.name === 'TypeError'
        ? new TypeError(w.message)
        : new Error(w.message);
  if (w.code !== undefined) Object.assign(err, { code: w.code });
  return err;
}
