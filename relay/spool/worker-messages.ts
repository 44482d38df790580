/**
 * The messages between WorkerSpool (worker-spool.ts) and its worker
 * (spool-worker.ts), and their codecs.
 *
 * Each direction sends at most one message per event-loop turn,
 * carrying every call (or answer) of that turn. The worker thus sees the calls
 * of one turn together and they join one group commit, as with RocksSpool on
 * this thread (measured: one message per call split the groups, and cost
 * 0.5-0.8x the appends/s). Nothing is JSON-encoded.
 *
 *   calls    one transferred ArrayBuffer: float64 (native order) H, then H
 *            float64 slots, then payload bytes. Per call, in call order:
 *              op, id, now, arguments
 *            where `now` is this side's clock at the call (the worker's
 *            RocksSpool reads its clock as the `now` of the latest call, so
 *            receivedAt and the age cap follow this clock, fake ones too) and
 *              append     n, (length, samples) × n; payloads in the bytes
 *              read       fromSeq, maxRecords, maxBytes (NaN: not given)
 *              release    first, last
 *            Payloads are copied in when the message is built, so callers
 *            keep their buffers (RocksSpool also reads them only then).
 *   answers  { t: 'answers', done, other, stats }: `done` a transferred
 *            Float64Array of (id, a, b) for calls that succeeded with a
 *            number or nothing (append: first, last; release: records,
 *            samples removed; diskBytes: bytes);
 *            `other` the rest: errors { name, message, code, retriable },
 *            rebuilt here as SpoolError / OwlError / RangeError, and read
 *            results: Float64Array (seq, samples, receivedAt) × n and the
 *            payloads, each in an ArrayBuffer of its own that is transferred.
 *            `stats` is a snapshot taken as the message is sent, so stats(),
 *            firstSeq(), nextSeq() and spoolId answer synchronously and see
 *            the call just awaited.
 *   other    { t: 'state', stats } if the state moved on after the last
 *            answer (nothing does so today: the age-cap timer runs on this
 *            side); { t: 'log', ... } forwards the worker's log lines.
 */
import { fromWireError, type WireError } from '../../protocol/index.js';
import type { ReadLimits, SpoolEntry, SpoolRecord, SpoolStats } from './spool.js';
import { SpoolError, SpoolErrorCode } from './errors.js';
import type { RocksSpoolOptions } from './rocks-spool.js';

/** @internal Call codes in the calls buffer. */
export const Op = { APPEND: 1, READ: 2, RELEASE: 3, SWEEP: 4, DISK_BYTES: 5, CLOSE: 6 } as const;
export type Op = (typeof Op)[keyof typeof Op];

/** @internal What the worker gets as workerData. */
export interface WorkerInit {
  options: Omit<RocksSpoolOptions, 'now' | 'logger'>;
  now: number;
}

/** @internal Read results as they cross: (seq, samples, receivedAt) per entry, and the payloads. */
export interface WireEntries {
  meta: Float64Array;
  payloads: Uint8Array[];
}

/** @internal An answer that is not a plain number (see `done`). */
export type WireAnswer = { id: number; entries: WireEntries } | { id: number; error: WireError };

/** @internal A message from the worker. */
export type WorkerMessage =
  | { t: 'opened'; stats: SpoolStats }
  | { t: 'open-failed'; error: WireError }
  | { t: 'answers'; done: Float64Array; other: WireAnswer[]; stats: SpoolStats }
  | { t: 'state'; stats: SpoolStats }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; obj: object; msg: string | undefined };

/** @internal One call as the worker decodes it. */
export type DecodedCall = { id: number; now: number } & (
  | { op: typeof Op.APPEND; records: SpoolRecord[] }
  | { op: typeof Op.READ; fromSeq: number; limits: ReadLimits }
  | { op: typeof Op.RELEASE; first: number; last: number }
  | { op: typeof Op.SWEEP | typeof Op.DISK_BYTES | typeof Op.CLOSE }
);

/** @internal Decode a calls buffer; payloads are views on it. */
export function decodeCalls(data: ArrayBuffer): DecodedCall[] {
  const slots = new Float64Array(data, 0, 1 + new Float64Array(data, 0, 1)[0]!);
  const out: DecodedCall[] = [];
  let off = slots.byteLength;
  let i = 1;
  const next = () => slots[i++]!;
  while (i < slots.length) {
    const op = next();
    const id = next();
    const now = next();
    switch (op) {
      case Op.APPEND: {
        const n = next();
        const records = new Array<SpoolRecord>(n);
        for (let k = 0; k < n; k++) {
          const length = next();
          records[k] = { payload: Buffer.from(data, off, length), samples: next() };
          off += length;
        }
        out.push({ op, id, now, records });
        break;
      }
      case Op.READ: {
        const fromSeq = next();
        const maxRecords = next();
        const maxBytes = next();
        const limits = {
          maxRecords: Number.isNaN(maxRecords) ? undefined : maxRecords,
          maxBytes: Number.isNaN(maxBytes) ? undefined : maxBytes,
        };
        out.push({ op, id, now, fromSeq, limits });
        break;
      }
      case Op.RELEASE:
        out.push({ op, id, now, first: next(), last: next() });
        break;
      case Op.SWEEP:
      case Op.DISK_BYTES:
      case Op.CLOSE:
        out.push({ op, id, now });
        break;
      default:
        throw new Error(`spool worker: unknown call ${op}`);
    }
  }
  return out;
}

const SPOOL_CODES = new Set<string>(Object.values(SpoolErrorCode));

/** @internal A worker's error, rebuilt: SpoolError for its own codes. */
export function rebuildError(w: WireError): Error {
  return fromWireError(w, (code, message, options) =>
    SPOOL_CODES.has(code) ? new SpoolError(code as SpoolErrorCode, message, options) : undefined,
  );
}

const ERROR_MARK = '__owlWireError';

/** @internal Log fields made cloneable: errors become { message, name, code, stack }, marked. */
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

/** @internal Log fields as the worker sent them, errors rebuilt. */
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

/** @internal The value of a call answered in `done` with the numbers (a, b). */
export function doneValue(op: Op, a: number, b: number): unknown {
  switch (op) {
    case Op.APPEND:
      return { first: a, last: b };
    case Op.RELEASE:
      return { records: a, samples: b };
    case Op.DISK_BYTES:
      return a;
    default:
      return undefined;
  }
}

/** @internal Read results as they crossed, back to entries. */
export function decodeEntries(w: WireEntries): SpoolEntry[] {
  const out = new Array<SpoolEntry>(w.payloads.length);
  for (let i = 0; i < w.payloads.length; i++) {
    const p = w.payloads[i]!;
    out[i] = {
      seq: w.meta[3 * i]!,
      payload: Buffer.from(p.buffer, p.byteOffset, p.byteLength),
      samples: w.meta[3 * i + 1]!,
      receivedAt: w.meta[3 * i + 2]!,
    };
  }
  return out;
}

/** @internal Call arguments go as numbers: anything else cannot cross, and RocksSpool refuses it anyway. */
export function num(x: unknown): number {
  return typeof x === 'number' ? x : Number.NaN;
}

/** @internal An optional read limit: NaN means "not given", so an invalid one goes as 0 (refused alike). */
export function limit(x: unknown): number {
  if (x === undefined) return Number.NaN;
  return typeof x === 'number' && !Number.isNaN(x) ? x : 0;
}
