/**
 * What crosses between a WorkerHost and its worker besides the calls' own
 * encoding: the open handshake, errors and log fields.
 */
import type { TransferListItem } from 'node:worker_threads';
import { fromWireError, type WireError } from '../protocol/index.js';

/** One message and what it hands over (transferred, not copied). */
export interface Outgoing {
  message: unknown;
  transfer: TransferListItem[];
}

/** The worker's first message: its service opened (with what the host needs of it), or failed to. */
export type Handshake<Opened extends object> =
  ({ t: 'opened' } & Opened) | { t: 'open-failed'; error: WireError };

/** Rebuilds a worker's errors: `make` gives this side's class for the codes in `codes`, fromWireError the rest. */
export function errorRebuilder<C extends string>(
  codes: Record<string, C>,
  make: (code: C, message: string, options: { retriable: boolean }) => Error,
): (w: WireError) => Error {
  const own = new Set<string>(Object.values(codes));
  return (w) =>
    fromWireError(w, (code, message, options) =>
      own.has(code) ? make(code as C, message, options) : undefined,
    );
}

const ERROR_MARK = '__owlWireError';

/** Log fields made cloneable: errors become { message, name, code, stack }, marked. */
export function toWireLog(obj: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v instanceof Error) {
      const { code } = v as { code?: unknown };
      out[k] = { [ERROR_MARK]: true, name: v.name, message: v.message, code, stack: v.stack };
    } else if (typeof v !== 'function' && typeof v !== 'symbol') {
      out[k] = v;
    }
  }
  return out;
}

/** Log fields as the worker sent them, errors rebuilt. */
export function fromWireLog(obj: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const e = v as Record<string, unknown> | null;
    if (e !== null && typeof e === 'object' && e[ERROR_MARK] === true) {
      const err = new Error(String(e.message));
      err.name = String(e.name);
      if (typeof e.stack === 'string') err.stack = e.stack;
      if (e.code !== undefined) Object.assign(err, { code: e.code });
      out[k] = err;
    } else {
      out[k] = v;
    }
  }
  return out;
}
