/**
 * WorkerSpool: a RocksSpool run in a worker thread (spool-worker.ts), so that
 * RocksDB's synchronous batch writes and their fdatasync block the worker's
 * event loop, never the relay's. Same semantics as RocksSpool: the worker's
 * RocksSpool does all the work; this side forwards calls and keeps a stats
 * snapshot for the synchronous methods.
 *
 * Messages: worker-messages.ts (one per event-loop turn each way, carrying
 * every call or answer of that turn, so they join one group commit). The
 * plumbing (handshake, batching, failure) is worker/, shared with the store.
 *
 * Failure. If the worker dies (uncaught error, exit, terminate), every pending
 * and later call rejects with a retriable OWL_ERR_SPOOL_IO, like a RocksSpool
 * whose storage failed; reopen to recover. An append was durable before its
 * answer left the worker.
 */
import path from 'node:path';
import { WorkerHost, fromWireLog } from '../../worker/index.js';
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
  CallsBuffer,
  decodeEntries,
  doneValue,
  limit,
  num,
  Op,
  rebuildError,
  type SpoolEvent,
  type SpoolOpened,
  type WorkerInit,
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

/** A Spool whose RocksSpool runs in a worker thread. Use WorkerSpool.open(). */
export class WorkerSpool implements Spool {
  readonly dir: string;
  private readonly host: WorkerHost<Op, SpoolOpened, SpoolEvent>;
  private readonly now: () => number;
  private readonly log: SpoolLogger;
  private readonly sweepIntervalMs: number;
  /** Latest stats snapshot from the worker; set before the open resolves. */
  private snap!: SpoolStats;
  /** This turn's calls, posted together. */
  private readonly calls = new CallsBuffer();
  private timer: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;

  /** Start the worker and open the spool in it (creating or recovering as needed); rejects with its OWL_ERR_SPOOL_* error. */
  static async open(options: WorkerSpoolOptions): Promise<WorkerSpool> {
    const spool = new WorkerSpool(options);
    await spool.host.opened;
    return spool;
  }

  private constructor(options: WorkerSpoolOptions) {
    const { now, logger, youngGenerationMiB, ...rest } = options;
    this.dir = path.resolve(options.dir);
    this.now = now ?? Date.now;
    this.log = logger ?? noopLogger;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    const init: WorkerInit = { options: rest, now: this.now() };
    this.host = new WorkerHost({
      moduleUrl: import.meta.url,
      module: 'spool-worker',
      workerData: init,
      resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMiB ?? WORKER_YOUNG_GENERATION_MIB },
      label: 'spool worker',
      failure: (message, cause) => new SpoolError(SpoolErrorCode.IO, message, { retriable: true, cause }),
      closed: () => new SpoolError(SpoolErrorCode.CLOSED, 'spool is closed'),
      rebuildError,
      takeCalls: () => this.calls.take(),
      opened: (m) => {
        this.snap = m.stats;
        this.startTimer();
      },
      message: (m) => this.onMessage(m),
      failed: (_failure, cause) => {
        if (this.timer) clearInterval(this.timer);
        this.log.error(
          { err: cause, dir: this.dir },
          'spool worker failed; refusing further work until reopened',
        );
      },
    });
  }

  get spoolId(): string {
    return this.snap.spoolId;
  }

  // ---- Spool -------------------------------------------------------------------------

  append(records: readonly SpoolRecord[]): Promise<SeqRange> {
    const refused = this.host.refusal();
    if (refused) return Promise.reject(refused);
    try {
      checkRecords(records); // only Buffers with uint32 samples can be packed
    } catch (err) {
      return Promise.reject(err);
    }
    return this.host.call<SeqRange>(Op.APPEND, (id) => {
      this.begin(Op.APPEND, id);
      this.calls.records(records);
    });
  }

  read(fromSeq: number, limits: ReadLimits = {}): Promise<SpoolEntry[]> {
    return this.host.call<SpoolEntry[]>(Op.READ, (id) => {
      this.begin(Op.READ, id);
      this.calls.args(num(fromSeq), limit(limits.maxRecords), limit(limits.maxBytes));
    });
  }

  release(first: number, last: number): Promise<Released> {
    return this.host.call<Released>(Op.RELEASE, (id) => {
      this.begin(Op.RELEASE, id);
      this.calls.args(num(first), num(last));
    });
  }

  sweep(): Promise<void> {
    return this.host.call<void>(Op.SWEEP, (id) => this.begin(Op.SWEEP, id));
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
    return this.host.call<number>(Op.DISK_BYTES, (id) => this.begin(Op.DISK_BYTES, id));
  }

  /** Closes the spool in the worker once every call is answered, then stops the worker. */
  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return this.host.close(Op.CLOSE, (id) => this.begin(Op.CLOSE, id)).catch(() => undefined);
  }

  /** @internal Test hook: stop the worker thread abruptly, as a crash would. */
  killWorkerForTest(): Promise<number> {
    return this.host.kill();
  }

  // ---- calls -------------------------------------------------------------------------

  /** Start encoding call `id` into this turn's message. */
  private begin(op: Op, id: number): void {
    this.calls.begin(op, id, this.now());
  }

  private onMessage(m: SpoolEvent): void {
    switch (m.t) {
      case 'answers': {
        this.snap = m.stats;
        const d = m.done;
        for (let i = 0; i < d.length; i += 3) {
          const p = this.host.take(d[i]!);
          p?.resolve(doneValue(p.op, d[i + 1]!, d[i + 2]!));
        }
        for (const x of m.other) {
          const p = this.host.take(x.id);
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
    }
  }

  /** The age cap, applied periodically as RocksSpool's own timer would, with this side's clock. */
  private startTimer(): void {
    if (!(this.sweepIntervalMs > 0) || this.snap.maxAgeMs === Infinity) return;
    this.timer = setInterval(() => {
      if (this.host.refusal() || this.sweeping) return;
      this.sweeping = true;
      this.sweep()
        .catch(() => undefined)
        .finally(() => (this.sweeping = false));
    }, this.sweepIntervalMs);
    this.timer.unref();
  }
}
