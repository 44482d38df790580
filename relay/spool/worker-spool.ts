/**
 * WorkerSpool: a RocksSpool run in a worker thread (spool-worker.ts), so that
 * RocksDB's synchronous batch writes and their fdatasync block the worker's
 * event loop, never the relay's. Same semantics as RocksSpool: the worker's
 * RocksSpool does all the work; this side forwards calls and keeps a stats
 * snapshot for the synchronous methods.
 *
 * Messages: worker-messages.ts (one per event-loop turn each way, carrying
 * every call or answer of that turn, so they join one group commit).
 *
 * Failure. If the worker dies (uncaught error, exit, terminate), every pending
 * and later call rejects with a retriable OWL_ERR_SPOOL_IO, like a RocksSpool
 * whose storage failed; reopen to recover. An append was durable before its
 * answer left the worker.
 */
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { PendingCalls, startModuleWorker } from '../../rocks/index.js';
import type {
  ReadLimits,
  Released,
  SeqRange,
  Spool,
  SpoolEntry,
  SpoolLogger,
  SpoolRecord,
  SpoolStats,
} from './spool.js';
import { SpoolError, SpoolErrorCode } from './errors.js';
import { checkRecords, noopLogger } from './common.js';
import type { RocksSpoolOptions } from './rocks-spool.js';
import {
  decodeEntries,
  doneValue,
  fromWireLog,
  limit,
  num,
  Op,
  rebuildError,
  type WorkerInit,
  type WorkerMessage,
} from './worker-messages.js';

/**
 * RocksSpoolOptions. `now` and `logger` stay on this thread (the clock is read
 * once per call; log lines are forwarded); `sweepIntervalMs` drives a timer on
 * this thread that sends sweep() calls.
 */
export type WorkerSpoolOptions = RocksSpoolOptions & {
  /**
   * The worker's V8 young generation, MiB (Worker resourceLimits.maxYoungGenerationSizeMb: two
   * semi-spaces and a third for large objects). Default WORKER_YOUNG_GENERATION_MIB.
   */
  youngGenerationMiB?: number;
};

/**
 * The worker's own objects live for one group commit: a young generation of 6 MiB (2 MiB
 * semi-spaces) is scavenged every few commits, which also frees the calls' buffers and the
 * records' values it drops. V8's default on Node 24 grows to 3 × 64 MiB, which held tens of MiB
 * of dead buffers (docs/benchmarks.md, relay memory).
 */
export const WORKER_YOUNG_GENERATION_MIB = 6;

// ---- the main side -----------------------------------------------------------------

/** Start the worker and open the spool in it (creating or recovering as needed); rejects with its OWL_ERR_SPOOL_* error. */
export async function openWorkerSpool(options: WorkerSpoolOptions): Promise<WorkerSpool> {
  const spool = new WorkerSpool(options);
  await spool.opened;
  return spool;
}

/** A Spool whose RocksSpool runs in a worker thread. Use openWorkerSpool(). */
export class WorkerSpool implements Spool {
  readonly dir: string;
  /** @internal Settles once the worker opened the spool (or failed to). */
  readonly opened: Promise<void>;
  private readonly worker: Worker;
  private readonly now: () => number;
  private readonly log: SpoolLogger;
  private readonly sweepIntervalMs: number;
  /** Latest stats snapshot from the worker; set before `opened` resolves. */
  private snap!: SpoolStats;
  private readonly pending: PendingCalls<Op>;
  /** This turn's calls, posted together by flush(): slots and the payloads to copy after them. */
  private slots: number[] = [];
  private payloads: Buffer[] = [];
  private payloadLengths: number[] = [];
  private payloadBytes = 0;
  private flushScheduled = false;
  private closing: Promise<void> | undefined;
  private failure: SpoolError | undefined;
  /** Set when this side stops the worker on purpose: its exit is then no failure. */
  private terminating = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;
  private openSettle: { resolve: () => void; reject: (err: unknown) => void } | undefined;

  /** Use openWorkerSpool(). */
  constructor(options: WorkerSpoolOptions) {
    const { now, logger, youngGenerationMiB, ...rest } = options;
    this.dir = path.resolve(options.dir);
    this.now = now ?? Date.now;
    this.log = logger ?? noopLogger;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    const init: WorkerInit = { options: rest, now: this.now() };
    this.opened = new Promise<void>((resolve, reject) => (this.openSettle = { resolve, reject }));
    this.worker = startModuleWorker(import.meta.url, 'spool-worker', init, {
      maxYoungGenerationSizeMb: youngGenerationMiB ?? WORKER_YOUNG_GENERATION_MIB,
    });
    this.pending = new PendingCalls(this.worker);
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('messageerror', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (!this.terminating) this.fail(new Error(`spool worker exited with code ${code}`));
    });
  }

  get spoolId(): string {
    return this.snap.spoolId;
  }

  // ---- Spool -------------------------------------------------------------------------

  append(records: readonly SpoolRecord[]): Promise<SeqRange> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    try {
      checkRecords(records); // only Buffers with uint32 samples can be packed
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.begin(Op.APPEND);
    this.slots.push(records.length);
    for (const r of records) {
      const length = r.payload.length;
      this.slots.push(length, r.samples);
      this.payloads.push(r.payload);
      this.payloadLengths.push(length);
      this.payloadBytes += length;
    }
    return this.wait<SeqRange>(id, Op.APPEND);
  }

  read(fromSeq: number, limits: ReadLimits = {}): Promise<SpoolEntry[]> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    const id = this.begin(Op.READ);
    this.slots.push(num(fromSeq), limit(limits.maxRecords), limit(limits.maxBytes));
    return this.wait<SpoolEntry[]>(id, Op.READ);
  }

  release(first: number, last: number): Promise<Released> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    const id = this.begin(Op.RELEASE);
    this.slots.push(num(first), num(last));
    return this.wait<Released>(id, Op.RELEASE);
  }

  sweep(): Promise<void> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    return this.wait<void>(this.begin(Op.SWEEP), Op.SWEEP);
  }

  firstSeq(): number {
    return this.snap.firstSeq;
  }

  nextSeq(): number {
    return this.snap.nextSeq;
  }

  stats(): SpoolStats {
    const s = this.snap;
    const ageMs = s.oldestReceivedAt === undefined ? 0 : Math.max(0, this.now() - s.oldestReceivedAt);
    return { ...s, ageMs };
  }

  diskBytes(): Promise<number> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    return this.wait<number>(this.begin(Op.DISK_BYTES), Op.DISK_BYTES);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.timer) clearInterval(this.timer);
    this.closing = (async () => {
      // The worker's close() waits for everything sent before it.
      if (!this.failure) await this.wait<void>(this.begin(Op.CLOSE), Op.CLOSE).catch(() => undefined);
      this.terminating = true;
      await this.worker.terminate();
      this.pending.rejectAll(new SpoolError(SpoolErrorCode.CLOSED, 'spool is closed'));
    })();
    return this.closing;
  }

  /** @internal Test hook: stop the worker thread abruptly, as a crash would. */
  killWorkerForTest(): Promise<number> {
    return this.worker.terminate();
  }

  // ---- calls -------------------------------------------------------------------------

  private refuse(): SpoolError | undefined {
    if (this.closing) return new SpoolError(SpoolErrorCode.CLOSED, 'spool is closed');
    return this.failure;
  }

  /** Start encoding a call into this turn's message; returns its id. */
  private begin(op: Op): number {
    const id = this.pending.newId();
    this.slots.push(op, id, this.now());
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // As RocksSpool schedules its group commit: every call of this turn goes in one message.
      setImmediate(() => this.flush());
    }
    return id;
  }

  private wait<T>(id: number, op: Op): Promise<T> {
    if (this.failure) return Promise.reject(this.failure); // only close() gets here after a failure
    // A call in flight keeps the process alive, an idle spool does not.
    return this.pending.wait<T>(id, op);
  }

  private flush(): void {
    this.flushScheduled = false;
    const slots = this.slots;
    const payloads = this.payloads;
    const lengths = this.payloadLengths;
    this.slots = [];
    this.payloads = [];
    this.payloadLengths = [];
    const bytes = this.payloadBytes;
    this.payloadBytes = 0;
    if (slots.length === 0 || this.failure) return; // a failure already rejected these calls
    const base = 8 * (1 + slots.length);
    const buf = Buffer.allocUnsafeSlow(base + bytes); // an ArrayBuffer of its own, not the pool's
    const head = new Float64Array(buf.buffer, 0, 1 + slots.length);
    head[0] = slots.length;
    head.set(slots, 1);
    let off = base;
    for (let i = 0; i < payloads.length; i++) {
      payloads[i]!.copy(buf, off, 0, lengths[i]);
      off += lengths[i]!; // the length given at the call keeps the layout even if the caller shrank its buffer
    }
    try {
      this.worker.postMessage(buf.buffer, [buf.buffer]);
    } catch (err) {
      this.fail(err);
    }
  }

  private onMessage(m: WorkerMessage): void {
    switch (m.t) {
      case 'answers': {
        this.snap = m.stats;
        const d = m.done;
        for (let i = 0; i < d.length; i += 3) {
          const p = this.pending.take(d[i]!);
          if (!p) continue;
          const a = d[i + 1]!;
          const b = d[i + 2]!;
          p.resolve(doneValue(p.op, a, b));
        }
        for (const x of m.other) {
          const p = this.pending.take(x.id);
          if (!p) continue;
          if ('error' in x) p.reject(rebuildError(x.error));
          else p.resolve(decodeEntries(x.entries));
        }
        return;
      }
      case 'state':
        this.snap = m.stats;
        return;
      case 'log':
        this.log[m.level](fromWireLog(m.obj), m.msg);
        return;
      case 'opened':
        this.snap = m.stats;
        this.worker.unref();
        this.startTimer();
        this.openSettle?.resolve();
        this.openSettle = undefined;
        return;
      case 'open-failed':
        this.terminating = true;
        void this.worker.terminate();
        this.openSettle?.reject(rebuildError(m.error));
        this.openSettle = undefined;
        return;
    }
  }

  /** The age cap, applied periodically as RocksSpool's own timer would, with this side's clock. */
  private startTimer(): void {
    if (!(this.sweepIntervalMs > 0) || this.snap.maxAgeMs === Infinity) return;
    this.timer = setInterval(() => {
      if (this.closing || this.failure || this.sweeping) return;
      this.sweeping = true;
      this.sweep()
        .catch(() => undefined)
        .finally(() => (this.sweeping = false));
    }, this.sweepIntervalMs);
    this.timer.unref();
  }

  private fail(cause: unknown): void {
    if (this.failure) return;
    const message = cause instanceof Error ? cause.message : String(cause);
    this.failure = new SpoolError(SpoolErrorCode.IO, `spool worker failed: ${message}`, {
      retriable: true,
      cause,
    });
    if (this.timer) clearInterval(this.timer);
    if (this.openSettle) {
      this.openSettle.reject(this.failure);
      this.openSettle = undefined;
    } else {
      this.log.error(
        { err: cause, dir: this.dir },
        'spool worker failed; refusing further work until reopened',
      );
    }
    this.pending.rejectAll(this.failure);
    this.terminating = true;
    void this.worker.terminate();
  }
}
