/**
 * Worker-thread entry of WorkerSpool (worker-spool.ts describes the messages):
 * opens a RocksSpool from workerData and serves the main thread's calls in
 * arrival order. The calls of one message, and those arriving while a batch
 * is being written, join the next group commit as they would on one thread.
 */
import { toWireError } from '../../protocol/index.js';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { openRocksSpool, type RocksSpool } from './rocks-spool.js';
import { VALUE_HEADER_BYTES } from './format.js';
import type { SpoolEntry, SpoolLogger, SpoolStats } from './spool.js';
import {
  decodeCalls,
  Op,
  toWireLog,
  type DecodedCall,
  type WireAnswer,
  type WireEntries,
  type WorkerInit,
  type WorkerMessage,
} from './worker-messages.js';

if (!parentPort) throw new Error('spool-worker runs only as a worker thread');
const port: MessagePort = parentPort;
const init = workerData as WorkerInit;

function post(m: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

/** The main thread's clock as of the latest call: every call carries a reading. */
let clock = init.now;

function forward(level: 'info' | 'warn' | 'error'): (obj: object, msg?: string) => void {
  return (obj, msg) => {
    try {
      post({ t: 'log', level, obj: toWireLog(obj), msg });
    } catch (err) {
      post({ t: 'log', level, obj: { unserializable: String(err) }, msg });
    }
  };
}
const logger: SpoolLogger = { info: forward('info'), warn: forward('warn'), error: forward('error') };

function serve(spool: RocksSpool): void {
  // The main side runs the age-cap timer (with its clock) and sends sweep calls
  // (sweepTimer: false above), so state changes only inside calls, each
  // answered with a snapshot.
  const answers = new Answers(spool);
  post({ t: 'opened', stats: answers.lastSent });
  port.on('message', (data: ArrayBuffer) => {
    const appends: Array<Promise<unknown>> = [];
    for (const c of decodeCalls(data)) {
      const settled = handle(spool, answers, c);
      if (c.op === Op.APPEND) appends.push(settled);
    }
    // The message is this thread's own (transferred), and once its appends have settled no
    // payload view into it is left: free it now (transfer(0) detaches and frees at once) rather
    // than when V8 next collects, which the worker's few small objects make rare (it held tens of
    // MiB of these).
    if (appends.length > 0) void Promise.allSettled(appends).then(() => free(data));
  });
}

/**
 * Answers settled in one go (a group commit settles all its appends and releases together)
 * leave in one message, once those settlements ran.
 */
class Answers {
  lastSent: SpoolStats;
  private done: number[] = [];
  private other: WireAnswer[] = [];
  private transfer: ArrayBuffer[] = [];
  private flushQueued = false;
  private checkQueued = false;

  constructor(private readonly spool: RocksSpool) {
    this.lastSent = spool.stats();
  }

  /** Call `id` succeeded with the numbers (a, b) (see `done` in worker-messages.ts). */
  numbers(id: number, a: number, b: number): void {
    this.done.push(id, a, b);
    this.queued();
  }

  entries(id: number, entries: SpoolEntry[]): void {
    this.other.push({ id, entries: wireEntries(entries, this.transfer) });
    this.queued();
  }

  failed(id: number, err: unknown): void {
    this.other.push({ id, error: toWireError(err) });
    this.queued();
  }

  private queued(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    const d = new Float64Array(this.done);
    this.transfer.push(d.buffer);
    this.lastSent = this.spool.stats();
    post({ t: 'answers', done: d, other: this.other, stats: this.lastSent }, this.transfer);
    this.done = [];
    this.other = [];
    this.transfer = [];
    if (!this.checkQueued) {
      this.checkQueued = true;
      setImmediate(() => this.stateCheck());
    }
  }

  /** After a turn with answers: if the state moved on since the last snapshot sent, send it. */
  private stateCheck(): void {
    this.checkQueued = false;
    const s = this.spool.stats();
    if (!sameState(s, this.lastSent)) {
      this.lastSent = s;
      post({ t: 'state', stats: s });
    }
  }
}

/** Detach `buffer` (ES2024 ArrayBuffer.prototype.transfer), which frees its memory at once. */
function free(buffer: ArrayBuffer): void {
  (buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
}

/** Carry out one call; its answer joins `answers`. Settles once it is answered. */
function handle(spool: RocksSpool, answers: Answers, c: DecodedCall): Promise<void> {
  clock = c.now;
  const { id } = c;
  const failed = (err: unknown): void => answers.failed(id, err);
  switch (c.op) {
    case Op.APPEND:
      return spool.append(c.records).then((r) => answers.numbers(id, r.first, r.last), failed);
    case Op.READ:
      return spool.read(c.fromSeq, c.limits).then((entries) => answers.entries(id, entries), failed);
    case Op.RELEASE:
      return spool.release(c.first, c.last).then((r) => answers.numbers(id, r.records, r.samples), failed);
    case Op.SWEEP:
    case Op.CLOSE:
      return (c.op === Op.SWEEP ? spool.sweep() : spool.close()).then(
        () => answers.numbers(id, 0, 0),
        failed,
      );
    case Op.DISK_BYTES:
      return spool.diskBytes().then((bytes) => answers.numbers(id, bytes, 0), failed);
  }
}

function sameState(a: SpoolStats, b: SpoolStats): boolean {
  return (
    a.records === b.records &&
    a.bytes === b.bytes &&
    a.samples === b.samples &&
    a.diskBytes === b.diskBytes &&
    a.firstSeq === b.firstSeq &&
    a.nextSeq === b.nextSeq &&
    a.oldestReceivedAt === b.oldestReceivedAt &&
    a.appendedRecords === b.appendedRecords &&
    a.droppedRecords === b.droppedRecords &&
    a.rejectedRecords === b.rejectedRecords &&
    a.spoolId === b.spoolId
  );
}

/**
 * Read results. A payload's ArrayBuffer is handed over when it holds exactly
 * that record's value (header + payload): the binding returns each value in a
 * buffer of its own and the spool keeps no reference to it. Otherwise the
 * payload is first copied into a buffer of its own.
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

// Last: the classes and functions above are initialised by now.
const spool = await openRocksSpool({ ...init.options, sweepTimer: false, now: () => clock, logger }).catch(
  (err: unknown) => {
    post({ t: 'open-failed', error: toWireError(err) });
    return undefined;
  },
);
if (spool) serve(spool);
else port.close(); // nothing else keeps the thread alive: it ends
