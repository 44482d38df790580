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
 *   other    { t: 'opened', stats } or { t: 'open-failed', error } (the
 *            handshake of worker/); { t: 'state', stats } if the state moved
 *            on after the last answer (nothing does so today: the age-cap
 *            timer runs on this side); { t: 'log', ... } forwards the
 *            worker's log lines.
 */
import type { WireError } from '../../protocol/index.js';
import { errorRebuilder, type Outgoing, type Settled } from '../../worker/index.js';
import type { ReadLimits, SpoolEntry, SpoolRecord, SpoolStats } from './spool.js';
import { SpoolError, SpoolErrorCode } from './errors.js';
import type { RocksSpoolOptions } from './rocks-spool.js';
import { VALUE_HEADER_BYTES } from './format.js';

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

/** @internal What the worker's 'opened' message carries. */
export interface SpoolOpened {
  stats: SpoolStats;
}

/** @internal A message from the worker after the handshake. */
export type SpoolEvent =
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

/** @internal This turn's calls, encoded as decodeCalls reads them. */
export class CallsBuffer {
  private slots: number[] = [];
  private payloads: Buffer[] = [];
  private lengths: number[] = [];
  private bytes = 0;

  /** Start a call; its arguments follow. */
  begin(op: Op, id: number, now: number): void {
    this.slots.push(op, id, now);
  }

  args(...xs: number[]): void {
    for (const x of xs) this.slots.push(x);
  }

  /** An append's records (checked: Buffers with uint32 samples). */
  records(records: readonly SpoolRecord[]): void {
    this.slots.push(records.length);
    for (const r of records) {
      const length = r.payload.length;
      this.slots.push(length, r.samples);
      this.payloads.push(r.payload);
      this.lengths.push(length);
      this.bytes += length;
    }
  }

  /** The calls so far as one message (an ArrayBuffer of its own, transferred); undefined when none. */
  take(): Outgoing | undefined {
    const { slots, payloads, lengths, bytes } = this;
    this.slots = [];
    this.payloads = [];
    this.lengths = [];
    this.bytes = 0;
    if (slots.length === 0) return undefined;
    const base = 8 * (1 + slots.length);
    const buf = Buffer.allocUnsafeSlow(base + bytes); // not a slice of the pool
    const head = new Float64Array(buf.buffer, 0, 1 + slots.length);
    head[0] = slots.length;
    head.set(slots, 1);
    let off = base;
    for (let i = 0; i < payloads.length; i++) {
      payloads[i]!.copy(buf, off, 0, lengths[i]);
      off += lengths[i]!; // the length given at the call keeps the layout even if the caller shrank its buffer
    }
    return { message: buf.buffer, transfer: [buf.buffer] };
  }
}

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

/** @internal A worker's error, rebuilt: SpoolError for its own codes. */
export const rebuildError = errorRebuilder(
  SpoolErrorCode,
  (code, message, options) => new SpoolError(code, message, options),
);

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

/** @internal The numbers (a, b) that carry a call's value in `done` (doneValue's inverse). */
export function doneNumbers(op: Op, value: unknown): [number, number] {
  switch (op) {
    case Op.APPEND: {
      const r = value as { first: number; last: number };
      return [r.first, r.last];
    }
    case Op.RELEASE: {
      const r = value as { records: number; samples: number };
      return [r.records, r.samples];
    }
    case Op.DISK_BYTES:
      return [value as number, 0];
    default:
      return [0, 0];
  }
}

/**
 * @internal The answers of calls settled together, as one message (in the
 * worker), with the stats snapshot `stats`.
 */
export function answersMessage(settled: Array<Settled<DecodedCall>>, stats: SpoolStats): Outgoing {
  const done: number[] = [];
  const other: WireAnswer[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const s of settled) {
    const { id, op } = s.call;
    if ('error' in s) other.push({ id, error: s.error });
    else if (op === Op.READ) other.push({ id, entries: wireEntries(s.value as SpoolEntry[], transfer) });
    else done.push(id, ...doneNumbers(op, s.value));
  }
  const d = new Float64Array(done);
  transfer.push(d.buffer);
  const message: SpoolEvent = { t: 'answers', done: d, other, stats };
  return { message, transfer };
}

/**
 * Read results as they cross (in the worker). A payload's ArrayBuffer is
 * handed over when it holds exactly that record's value (header + payload):
 * the binding returns each value in a buffer of its own and the spool keeps
 * no reference to it. Otherwise the payload is first copied into a buffer of
 * its own.
 */
function wireEntries(entries: SpoolEntry[], transfer: ArrayBuffer[]): WireEntries {
  const meta = new Float64Array(3 * entries.length);
  const payloads = new Array<Uint8Array>(entries.length);
  transfer.push(meta.buffer);
  const seen = new Set<ArrayBuffer>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    meta[3 * i] = e.seq;
    meta[3 * i + 1] = e.samples;
    meta[3 * i + 2] = e.receivedAt;
    let p: Buffer = e.payload;
    const ab = p.buffer;
    const own =
      ab instanceof ArrayBuffer &&
      p.byteOffset === VALUE_HEADER_BYTES &&
      ab.byteLength === VALUE_HEADER_BYTES + p.length &&
      !seen.has(ab);
    if (!own) {
      const copy = Buffer.allocUnsafeSlow(p.length);
      p.copy(copy);
      p = copy;
    }
    seen.add(p.buffer as ArrayBuffer);
    transfer.push(p.buffer as ArrayBuffer);
    payloads[i] = p;
  }
  return { meta, payloads };
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
