/**
 * Worker-thread entry of WorkerSpool (worker-messages.ts describes the
 * messages, worker/port.ts the serving loop): opens a RocksSpool from
 * workerData and serves the main thread's calls in arrival order. The calls
 * of one message, and those arriving while a batch is being written, join the
 * next group commit as they would on one thread.
 */
import { HostPort, toWireLog } from '../../worker/index.js';
import { openRocksSpool, type RocksSpool } from './rocks-spool.js';
import type { SpoolLogger, SpoolStats } from './spool.js';
import {
  answersMessage,
  decodeCalls,
  Op,
  type DecodedCall,
  type SpoolEvent,
  type WorkerInit,
} from './worker-messages.js';

const port = new HostPort<WorkerInit>('spool-worker');
const init = port.init;

function post(m: SpoolEvent): void {
  port.post(m);
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

/**
 * The main side runs the age-cap timer (with its clock) and sends sweep calls
 * (sweepTimer: false below), so state changes only inside calls, each
 * answered with a snapshot; one taken after a turn with answers catches the
 * rest.
 */
class Snapshots {
  lastSent: SpoolStats;
  private checkQueued = false;

  constructor(private readonly spool: RocksSpool) {
    this.lastSent = spool.stats();
  }

  /** The snapshot to send with answers now. */
  take(): SpoolStats {
    this.lastSent = this.spool.stats();
    if (!this.checkQueued) {
      this.checkQueued = true;
      setImmediate(() => this.check());
    }
    return this.lastSent;
  }

  /** After a turn with answers: if the state moved on since the last snapshot sent, send it. */
  private check(): void {
    this.checkQueued = false;
    const s = this.spool.stats();
    if (!sameState(s, this.lastSent)) {
      this.lastSent = s;
      post({ t: 'state', stats: s });
    }
  }
}

/** Carry out one call. */
function run(spool: RocksSpool, c: DecodedCall): Promise<unknown> {
  clock = c.now;
  switch (c.op) {
    case Op.APPEND:
      return spool.append(c.records);
    case Op.READ:
      return spool.read(c.fromSeq, c.limits);
    case Op.RELEASE:
      return spool.release(c.first, c.last);
    case Op.SWEEP:
      return spool.sweep();
    case Op.CLOSE:
      return spool.close();
    case Op.DISK_BYTES:
      return spool.diskBytes();
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

// Last: the classes and functions above are initialised by now.
await port.serve(
  () => openRocksSpool({ ...init.options, sweepTimer: false, now: () => clock, logger }),
  (spool) => {
    const snapshots = new Snapshots(spool);
    return {
      opened: { stats: snapshots.lastSent },
      service: {
        decode: (data) => decodeCalls(data as ArrayBuffer),
        run: (c) => run(spool, c),
        answers: (settled) => answersMessage(settled, snapshots.take()),
        // An append's payloads are views into the message.
        viewsMessage: (c) => c.op === Op.APPEND,
      },
    };
  },
);
